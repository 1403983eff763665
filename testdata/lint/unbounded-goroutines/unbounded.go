// Package unboundedgoroutines: one goroutine per message with no bound.
package unboundedgoroutines

import "sync"

type Message struct{ Body string }

type Subscription struct{ C chan Message }

func (s *Subscription) ReceiveMessage() (Message, error) { return <-s.C, nil }

func process(Message) {}

// leaks: the seed's pub/sub pile-up: a slow process() leaves one goroutine per message behind.
func consume(sub *Subscription) {
	for {
		msg, err := sub.ReceiveMessage()
		if err != nil {
			return
		}
		go process(msg) // want "unbounded-goroutines"
	}
}

// leaks: a goroutine per channel message.
func fanOut(messages chan Message) {
	for msg := range messages {
		go process(msg) // want "unbounded-goroutines"
	}
}

// leaks: the semaphore is acquired inside the goroutine it should bound.
func semaphoreInside(messages []Message) {
	sem := make(chan struct{}, 8)
	for _, msg := range messages {
		go func(m Message) {
			sem <- struct{}{} // want "unbounded-goroutines"
			defer func() { <-sem }()
			process(m)
		}(msg)
	}
}

// fixed: acquire before go.
func bounded(sub *Subscription) {
	sem := make(chan struct{}, 8)
	for {
		msg, err := sub.ReceiveMessage()
		if err != nil {
			return
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			process(msg)
		}()
	}
}

// fixed: a fixed pool of workers reading the channel.
func pool(messages chan Message) {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range messages {
				process(msg)
			}
		}()
	}
	wg.Wait()
}
