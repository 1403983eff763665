// Command parked parks goroutines in every blocking state leaksleuth must
// recognise, then serves net/http/pprof so the capture script can take
// goroutine and goroutineleak dumps in all three formats.
//
// Two kinds of goroutines live here:
//
//   - "parked": blocked on something a global variable still references. The
//     runtime's leak detector must NOT flag them (they could be woken up).
//   - "leaked" (leaks.go): blocked on a channel or WaitGroup that only the
//     blocked goroutine itself can reach. Go's goroutineleak profile proves
//     these can never run again; the debug=2 header then reads e.g.
//     "[chan send (leaked)]". The nil-channel goroutines below are flagged
//     too: nothing can ever wake them.
//
// Every goroutine gets its own named function (or closure) so each state is
// easy to find in a dump.
package main

import (
	"context"
	"flag"
	"net"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"leaksleuth.test/corpus/internal/harness"
)

// Globals keep every primitive of a "parked" goroutine reachable from a root.
var (
	sendCh    = make(chan int)    // unbuffered; nobody ever receives
	recvCh    = make(chan int)    // nobody ever sends
	selA      = make(chan int)    // select over two silent channels
	selB      = make(chan string) //
	lockedCh  = make(chan struct{})
	deepCh    = make(chan struct{})
	closureCh = make(chan struct{})
	genCh     = make(chan string)
	argsCh    = make(chan struct{})

	mu   sync.Mutex   // held by main forever
	rw   sync.RWMutex // read-held by main forever; a writer queues, then a reader queues behind it
	wg   sync.WaitGroup
	cond = sync.NewCond(&sync.Mutex{})

	ioServer, ioClient net.Conn // loopback pair; the client never writes
	pipeFDs            [2]int   // raw blocking pipe; nobody ever writes
)

// sender blocks in "chan send"; three of them share one stack so that debug=1
// and proto group them into a single record with count 3. They also carry
// pprof labels, which show up as "# labels:" in debug=1, as proto labels and,
// with GODEBUG=tracebacklabels=1 (the default only for go >= 1.27 modules), in
// the debug=2 header: `[chan send] {peer: "10.0.0.7:443", role: sender}`.
func sender(id int) {
	pprof.Do(context.Background(), pprof.Labels("role", "sender", "peer", "10.0.0.7:443"), func(context.Context) {
		sendCh <- id
	})
}

// recvOne is tiny, so the compiler inlines it into its caller: the dump then
// shows "main.recvOne(...)" (args elided for inlined frames).
func recvOne(ch chan int) int { return <-ch }

// nilSend and nilRecv block forever on a nil channel: "chan send (nil chan)"
// and "chan receive (nil chan)".
func nilSend() {
	var ch chan int
	ch <- 1
}

func nilRecv() {
	var ch chan int
	<-ch
}

func selectTwo() {
	select {
	case <-selA:
	case <-selB:
	}
}

func lockMutex() { mu.Lock() }                  // "sync.Mutex.Lock"
func rwWriter()  { rw.Lock() }                  // "sync.RWMutex.Lock": waits for main's read lock
func rwReader()  { rw.RLock() }                 // "sync.RWMutex.RLock": queued behind the writer
func waitGroup() { wg.Wait() }                  // "sync.WaitGroup.Wait": the counter never drops
func sleeper()   { time.Sleep(24 * time.Hour) } // "sleep"

func condWait() { // "sync.Cond.Wait": nobody signals
	cond.L.Lock()
	for {
		cond.Wait()
	}
}

// readConn blocks in the netpoller: "IO wait".
func readConn(c net.Conn) {
	buf := make([]byte, 1)
	c.Read(buf)
}

// rawRead blocks inside the read(2) system call itself: the pipe was made with
// syscall.Pipe2 (blocking mode, not registered with the netpoller), so the
// goroutine sits in "syscall" rather than "IO wait".
func rawRead() {
	buf := make([]byte, 1)
	syscall.Read(pipeFDs[0], buf)
}

// lockedToThread wires itself to its OS thread first: the header then ends
// with ", locked to thread".
func lockedToThread() {
	runtime.LockOSThread()
	<-lockedCh
}

// recurse goes deep enough (200 frames) that the traceback printer keeps
// only the outermost and innermost frames: "...N frames elided...".
func recurse(n int) int {
	if n == 0 {
		<-deepCh
		return 0
	}
	return recurse(n-1) + 1
}

// startClosures makes closure names: main.startClosures.func1 creates
// main.startClosures.func1.1, so "created by" names a closure and a parent
// goroutine other than main; func2 is a sibling closure.
func startClosures() {
	go func() {
		go func() { <-closureCh }()
		<-closureCh
	}()
	go func() {
		select {
		case <-closureCh:
		case <-lockedCh:
		}
	}()
}

type worker struct{ id int }

// loop is started through a method value (f := w.loop; go f()). It is kept
// out of line so the frame shows a real receiver argument.
//
//go:noinline
func (w *worker) loop() { <-closureCh }

// waitGeneric is a generic function: dumps show "main.waitGeneric[...]".
func waitGeneric[T any](ch chan T) T { return <-ch }

// manyArgs has more argument words than the traceback prints: "...".
//
//go:noinline
func manyArgs(a, b, c, d, e, f, g, h, i, j, k, l int) int {
	<-argsCh
	return a + b + c + d + e + f + g + h + i + j + k + l
}

func main() {
	flag.Parse()
	harness.Serve()

	// Loopback TCP pair for the IO wait goroutine.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	if ioClient, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		panic(err)
	}
	if ioServer, err = ln.Accept(); err != nil {
		panic(err)
	}
	ln.Close()
	if err := syscall.Pipe2(pipeFDs[:], syscall.O_CLOEXEC); err != nil {
		panic(err)
	}

	mu.Lock()
	rw.RLock()
	wg.Add(1)

	for i := range 3 {
		go sender(i)
	}
	go func() { recvOne(recvCh) }()
	go nilSend()
	go nilRecv()
	go selectTwo()
	go lockMutex()
	go rwWriter()
	// Wait until the writer is queued (TryRLock fails once a writer waits),
	// so the reader below blocks behind it instead of getting the read lock.
	for rw.TryRLock() {
		rw.RUnlock()
		time.Sleep(time.Millisecond)
	}
	go rwReader()
	go waitGroup()
	go condWait()
	go sleeper()
	go readConn(ioServer)
	go rawRead()
	go lockedToThread()
	go recurse(200)
	startClosures()
	w := &worker{id: 7}
	f := w.loop
	go f()
	go waitGeneric(genCh)
	go manyArgs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)

	for range 3 {
		fetchWithTimeout()
	}
	leakConsumer()
	leakSelect()
	leakWaitGroup()

	time.Sleep(50 * time.Millisecond) // let the "slow backends" reach their send
	runtime.GC()
	runtime.GC()
	harness.Ready()
	select {} // main itself: "select (no cases)"
}
