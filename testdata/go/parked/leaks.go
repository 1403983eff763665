package main

// The goroutines below are leaked, not parked: each blocks on a channel or a
// WaitGroup that only the blocked goroutine itself can still reach. The
// runtime's leak detector (a special GC cycle run by /debug/pprof/goroutineleak)
// proves they can never run again and marks them "(leaked)".

import (
	"sync"
	"time"
)

// fetchWithTimeout is the classic leak: the caller gives up after a timeout
// and returns, and the worker blocks forever sending its result to a channel
// nobody else holds.
func fetchWithTimeout() {
	result := make(chan string)
	go func() {
		time.Sleep(20 * time.Millisecond) // "slow backend"
		result <- "done"
	}()
	select {
	case <-result:
	case <-time.After(time.Millisecond):
	}
}

// leakConsumer forgets to close the jobs channel: "chan receive (leaked)".
func leakConsumer() {
	jobs := make(chan int)
	go func() {
		for range jobs {
		}
	}()
	jobs <- 1
}

// leakSelect waits on two channels that only it references: "select (leaked)".
func leakSelect() {
	stop, data := make(chan struct{}), make(chan int)
	go func() {
		select {
		case <-stop:
		case <-data:
		}
	}()
}

// leakWaitGroup waits for a counter nothing else can decrement.
func leakWaitGroup() {
	var local sync.WaitGroup
	local.Add(1)
	go func() { local.Wait() }()
}
