// Command contended generates lock and channel contention with the block and
// mutex profilers switched fully on, then keeps one goroutine burning CPU, and
// serves net/http/pprof. The capture script takes the block, mutex,
// threadcreate and a 1-second CPU profile from it.
//
// Why each piece exists:
//   - hotLock: several goroutines fight over one sync.Mutex while doing work
//     inside the critical section -> mutex profile (contention is charged to
//     the Unlock that made others wait) and block profile (sync.Mutex.Lock).
//   - table: readers and a writer on a sync.RWMutex -> RLock/Lock delays.
//   - pipeline: a fast producer and a slow consumer on an unbuffered channel
//     -> "chan send" delay; a select with a ticker -> "select" delay.
//   - WaitGroup and Cond waits -> sync.(*WaitGroup).Wait / sync.(*Cond).Wait.
//   - burner: a CPU-bound loop under pprof labels, so the CPU profile has
//     samples with labels and a recursive call chain.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"leaksleuth.test/corpus/internal/harness"
)

var (
	hotLock sync.Mutex
	counter int

	table   sync.RWMutex
	entries = map[int]int{}

	ready    bool
	readyMu  sync.Mutex
	readyCnd = sync.NewCond(&readyMu)

	sink [32]byte // keeps the burner's results alive
)

// spin does a little real work so time is spent *holding* a lock.
func spin(n int) int {
	x := 0
	for i := range n {
		x += i * i % 7
	}
	return x
}

func lockWorker(deadline time.Time) {
	for time.Now().Before(deadline) {
		hotLock.Lock()
		counter += spin(20000)
		hotLock.Unlock()
	}
}

func tableReader(deadline time.Time) {
	for time.Now().Before(deadline) {
		table.RLock()
		_ = entries[counter%16]
		spin(5000)
		table.RUnlock()
	}
}

func tableWriter(deadline time.Time) {
	for i := 0; time.Now().Before(deadline); i++ {
		table.Lock()
		entries[i%16] = spin(10000)
		table.Unlock()
		time.Sleep(time.Millisecond)
	}
}

func producer(out chan<- int, deadline time.Time) {
	for i := 0; time.Now().Before(deadline); i++ {
		out <- i // blocks: the consumer is slower
	}
	close(out)
}

func slowConsumer(in <-chan int) {
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	for {
		select {
		case _, ok := <-in:
			if !ok {
				return
			}
		case <-tick.C:
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func condWaiter(wg *sync.WaitGroup) {
	defer wg.Done()
	readyMu.Lock()
	for !ready {
		readyCnd.Wait()
	}
	readyMu.Unlock()
}

// contend runs every scenario for d, then returns once all of them are done.
func contend(d time.Duration) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	for range 4 {
		run(func() { lockWorker(deadline) })
	}
	for range 3 {
		run(func() { tableReader(deadline) })
	}
	run(func() { tableWriter(deadline) })
	ch := make(chan int)
	run(func() { producer(ch, deadline) })
	run(func() { slowConsumer(ch) })

	var condWG sync.WaitGroup
	for range 3 {
		condWG.Add(1)
		go condWaiter(&condWG)
	}
	time.Sleep(d / 2)
	readyMu.Lock()
	ready = true
	readyCnd.Broadcast()
	readyMu.Unlock()
	condWG.Wait()
	wg.Wait()
}

// fib is deliberately naive: a deep, recursive CPU stack.
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func checksum(buf []byte) {
	for range 4 {
		sink = sha256.Sum256(buf)
	}
}

// burner never stops: the CPU profile is taken while it runs.
func burner() {
	buf := make([]byte, 64<<10)
	pprof.Do(context.Background(), pprof.Labels("job", "burner"), func(ctx context.Context) {
		for {
			pprof.Do(ctx, pprof.Labels("phase", "checksum"), func(context.Context) { checksum(buf) })
			pprof.Do(ctx, pprof.Labels("phase", "fib"), func(context.Context) { sink[0] = byte(fib(27)) })
		}
	})
}

func main() {
	flag.Parse()
	runtime.SetBlockProfileRate(1)     // record every blocking event
	runtime.SetMutexProfileFraction(1) // record every contended unlock
	harness.Serve()

	contend(300 * time.Millisecond)
	go burner()
	harness.Ready()
	select {}
}
