// Package channevercloed: a goroutine waits on a channel that nothing closes or sends on.
package channeverclosed

func handle(int) {}

// leaks: the producer forgets close(jobs): the consumer's range never ends.
func rangeNeverClosed(items []int) {
	jobs := make(chan int)
	go func() {
		for j := range jobs { // want "chan-never-closed"
			handle(j)
		}
	}()
	for _, item := range items {
		jobs <- item
	}
}

// leaks: an early return skips close(done).
func earlyReturn(fail bool) {
	done := make(chan struct{})
	go func() {
		<-done // want "chan-never-closed"
	}()
	if fail {
		return
	}
	close(done)
}

// fixed: closed on every path.
func rangeClosed(items []int) {
	jobs := make(chan int)
	go func() {
		for j := range jobs {
			handle(j)
		}
	}()
	defer close(jobs)
	for _, item := range items {
		jobs <- item
	}
}

// fixed: deferred close covers the early return.
func earlyReturnDeferred(fail bool) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		<-done
	}()
	if fail {
		return
	}
}

// look-alike: the receive is answered by a send.
func answered() {
	reply := make(chan int)
	go func() {
		handle(<-reply)
	}()
	reply <- 1
}
