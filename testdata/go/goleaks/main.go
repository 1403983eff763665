// Command goleaks is a small service that leaks goroutines in one chosen way
// (or behaves like a healthy look-alike), for leaksleuth's live tests.
//
//	goleaks -mode timeout-send     # one of the modes below
//
// Every mode simulates steady traffic with bounded loops. The line a leaked
// goroutine blocks on carries a "// LEAK: <mode>" comment: the tests read it to
// know which file:line leaksleuth must name.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"leaksleuth.test/corpus/internal/harness"
)

var (
	mode  = flag.String("mode", "timeout-send", "which leak (or healthy look-alike) to run")
	every = flag.Duration("every", 20*time.Millisecond, "time between simulated requests")
	limit = flag.Int("requests", 100000, "stop the traffic after this many simulated requests")
	loop  = flag.Bool("run-loop", false, "also start one run loop that finishes its work and parks in select {}")
)

var modes = map[string]func(i int){
	// leaks the runtime's goroutineleak profile can prove (the blocking object is unreachable)
	"timeout-send":      timeoutSend,
	"done-never-closed": doneNeverClosed,
	"waitgroup":         waitGroupNeverDone,
	"nil-range":         rangeOverNilChannel,
	// leaks it cannot prove (the blocking object stays reachable)
	"ticker":       tickerNeverStopped,
	"semaphore":    pileUpBehindSemaphore,
	"lock":         lockNeverReleased,
	"http-body":    unclosedResponseBody,
	"handler-lock": handlerStuckOnLock,
	// healthy look-alikes
	"worker-pool":  idleWorkerPool,
	"burst":        burstThatReturns,
	"server-conns": serverConnections,
	"fixed-loops":  fixedBackgroundLoops,
	"run-loop":     func(int) {}, // only the -run-loop goroutine (started whatever the mode)
}

func main() {
	flag.Parse()
	step, ok := modes[*mode]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown -mode", *mode)
		os.Exit(2)
	}
	http.HandleFunc("/payload", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, 64<<10)) // big enough that an unread body keeps the connection busy
	})
	http.HandleFunc("/charge", charge)
	harness.Serve()
	if *loop || *mode == "run-loop" {
		go finishedRunLoop()
	}
	harness.Ready()
	for i := 0; i < *limit; i++ {
		step(i)
		time.Sleep(*every)
	}
	select {}
}

// ---- leaks the runtime can prove ----

// timeoutSend: the caller gives up, the worker blocks forever sending its result.
func timeoutSend(int) {
	result := make(chan int)
	go func() {
		time.Sleep(2 * time.Millisecond) // a slow backend
		result <- 42                     // LEAK: timeout-send
	}()
	select {
	case <-result:
	case <-time.After(time.Millisecond):
	}
}

var errBackend = errors.New("backend unavailable")

// doneNeverClosed: the cleanup goroutine waits for done, but the error path returns without closing it.
func doneNeverClosed(i int) {
	done := make(chan struct{})
	go func() {
		<-done // LEAK: done-never-closed
	}()
	if err := callBackend(i); err != nil {
		return // bug: close(done) is skipped on this path
	}
	close(done)
}

func callBackend(i int) error {
	if i%2 == 0 {
		return errBackend
	}
	return nil
}

// waitGroupNeverDone: one worker forgets wg.Done, so the collector waits forever.
func waitGroupNeverDone(int) {
	var wg sync.WaitGroup
	results := make(chan int, 2)
	wg.Add(2)
	go func() { defer wg.Done(); results <- 1 }()
	go func() { results <- 2 }() // bug: no wg.Done()
	go func() {
		wg.Wait() // LEAK: waitgroup
		close(results)
	}()
}

type subscriber struct{ updates chan int }

// rangeOverNilChannel: the channel is only created on another code path, so the range blocks forever.
func rangeOverNilChannel(i int) {
	s := &subscriber{}
	if i < 0 {
		s.updates = make(chan int)
	}
	go func() {
		for update := range s.updates { // LEAK: nil-range
			_ = update
		}
	}()
}

// ---- leaks the runtime cannot prove (reachable objects) ----

// tickerNeverStopped: every request starts a poller whose ticker is never stopped.
func tickerNeverStopped(int) {
	go func() {
		ticker := time.NewTicker(50 * time.Millisecond)
		for range ticker.C { // LEAK: ticker
			poll()
		}
	}()
}

func poll() {}

var (
	semaphore = make(chan struct{}, 4)
	slowOnce  sync.Once
)

// pileUpBehindSemaphore: one goroutine per message, no back-pressure; the four slots are held by a stuck consumer.
func pileUpBehindSemaphore(int) {
	slowOnce.Do(func() {
		for range cap(semaphore) {
			semaphore <- struct{}{} // the consumer took every slot and hangs
		}
	})
	go func() {
		semaphore <- struct{}{} // LEAK: semaphore
		defer func() { <-semaphore }()
	}()
}

var (
	accounts   sync.Mutex
	lockedOnce sync.Once
)

// lockNeverReleased: an early return forgot Unlock; every later request queues on the lock.
func lockNeverReleased(int) {
	lockedOnce.Do(func() { accounts.Lock() }) // the buggy path: Lock without Unlock
	go func() {
		accounts.Lock() // LEAK: lock
		defer accounts.Unlock()
	}()
}

var (
	ledger     sync.Mutex
	ledgerOnce sync.Once
	impatient  = &http.Client{Timeout: 30 * time.Millisecond}
)

// handlerStuckOnLock: a handler's error path forgot Unlock, so every later request blocks inside the handler
// forever. Each client gives up after its timeout and goes away; the server goroutine serving its connection
// stays behind in net/http's (*conn).serve, one more per request.
func handlerStuckOnLock(int) {
	resp, err := impatient.Get("http://" + harness.Listening() + "/charge")
	if err == nil {
		_ = resp.Body.Close()
	}
}

func charge(w http.ResponseWriter, _ *http.Request) {
	ledgerOnce.Do(func() { ledger.Lock() }) // the buggy path: Lock without Unlock
	ledger.Lock()                           // LEAK: handler-lock
	defer ledger.Unlock()
	fmt.Fprintln(w, "charged")
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}

// unclosedResponseBody: the body is never closed, so each request pins a connection and its two goroutines.
func unclosedResponseBody(int) {
	if resp, err := client.Get("http://" + harness.Listening() + "/payload"); err == nil { // LEAK: http-body
		_ = resp.StatusCode // bug: no resp.Body.Close()
	}
}

// ---- healthy look-alikes ----

var jobs = make(chan int)

// idleWorkerPool: a fixed pool waits for rare jobs (long waits, stable count).
func idleWorkerPool(i int) {
	if i == 0 {
		for range 50 {
			go func() {
				for job := range jobs {
					_ = job
				}
			}()
		}
	}
	if i%100 == 0 {
		jobs <- i
	}
}

// burstThatReturns: every 2 s, 150 goroutines wait for a batch for half a second, then all finish.
func burstThatReturns(i int) {
	if i%100 != 0 {
		return
	}
	release := make(chan struct{})
	for range 150 {
		go func() { <-release }()
	}
	time.AfterFunc(500*time.Millisecond, func() { close(release) })
}

var conns []net.Conn

// serverConnections: clients keep more and more keep-alive connections open; the server has one goroutine each.
func serverConnections(i int) {
	if i%5 != 0 || len(conns) >= 200 {
		return
	}
	conn, err := net.Dial("tcp", harness.Listening())
	if err != nil {
		return
	}
	fmt.Fprintf(conn, "GET /payload HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	conns = append(conns, conn) // kept open: an idle keep-alive connection
}

// fixedBackgroundLoops: ten pollers started once and running for the life of the process.
func fixedBackgroundLoops(i int) {
	if i != 0 {
		return
	}
	for range 10 {
		go func() {
			ticker := time.NewTicker(20 * time.Millisecond)
			defer ticker.Stop()
			for range ticker.C {
				poll()
			}
		}()
	}
}

// finishedRunLoop: a run loop that did its work and now parks for the life of the process, by design. The
// runtime's goroutineleak profile proves it can never run again (select {} waits on nothing), but it is one
// goroutine that never grows: not a leak anyone is paged for.
func finishedRunLoop() {
	for range 3 {
		poll()
	}
	select {} // RUNLOOP: parked forever by design
}
