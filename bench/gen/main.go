// Command gen writes large, real Go runtime artifacts for leaksleuth's benchmarks.
//
//	gen -mode dump -goroutines 20000 -out dump.txt   # debug=2-style dump of a "leaking server"
//	gen -mode heap -samples 200000 -out heap.pb.gz   # heap profile with ~N distinct stacks (MemProfileRate=1)
//	gen -mode heap -samples 200000 -grow 10 -out heap.grown.pb.gz
//	                                                  # the same stacks, every 10th path retaining one more object:
//	                                                  # a "later snapshot" of the same process to diff against
//
// Only the standard library is used (there is no module proxy where this runs).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

func main() {
	mode := flag.String("mode", "dump", "dump or heap")
	goroutines := flag.Int("goroutines", 20000, "goroutines to park (dump mode)")
	samples := flag.Int("samples", 200000, "distinct allocation stacks (heap mode)")
	grow := flag.Int("grow", 0, "heap mode: every Nth path retains one more object (0 = none)")
	out := flag.String("out", "", "output file")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	switch *mode {
	case "dump":
		writeDump(*goroutines, *out)
	case "heap":
		writeHeap(*samples, *grow, *out)
	default:
		log.Fatalf("unknown mode %q", *mode)
	}
}

// ---- goroutine dump: a service that leaks in several ways, plus healthy pools ----

var (
	mu      sync.Mutex
	rw      sync.RWMutex
	cond    = sync.NewCond(&sync.Mutex{})
	started sync.WaitGroup
)

type request struct {
	id      int
	payload []byte
}

type handler struct{ name string }

//go:noinline
func (h *handler) serve(r *request, depth int, park func(int)) {
	if depth > 0 {
		h.middleware(r, depth-1, park)
		return
	}
	park(r.id)
}

//go:noinline
func (h *handler) middleware(r *request, depth int, park func(int)) {
	if depth%3 == 0 {
		h.auth(r, depth, park)
		return
	}
	h.serve(r, depth, park)
}

//go:noinline
func (h *handler) auth(r *request, depth int, park func(int)) { h.serve(r, depth, park) }

func parkers() []func(int) {
	forever := make(chan int) // never receives: chan send leak
	never := make(chan struct{})
	return []func(int){
		func(i int) { started.Done(); forever <- i },
		func(int) { started.Done(); <-never },
		func(i int) {
			started.Done()
			select {
			case <-never:
			case forever <- i:
			}
		},
		func(int) { started.Done(); mu.Lock() },
		func(int) { started.Done(); rw.RLock() },
		func(int) { started.Done(); cond.L.Lock(); cond.Wait() },
		func(int) { started.Done(); time.Sleep(time.Hour) },
		func(int) {
			started.Done()
			var nilChan chan int
			<-nilChan
		},
	}
}

func writeDump(n int, out string) {
	mu.Lock() // held forever: Lock waiters pile up
	rw.Lock()
	park := parkers()
	started.Add(n)
	for i := 0; i < n; i++ {
		h := &handler{name: fmt.Sprint("h", i%7)}
		r := &request{id: i, payload: make([]byte, 16)}
		// 8 parking styles x 12 call depths = ~100 distinct stacks, pointer args differ per goroutine
		go h.serve(r, 2+i%12, park[(i/12)%len(park)])
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond) // let every goroutine reach its parking spot
	// runtime.Stack with a large buffer: the HTTP handler would cut debug=2 output at 64 MiB
	buf := make([]byte, 512<<20)
	size := runtime.Stack(buf, true)
	if err := os.WriteFile(out, buf[:size], 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s: %d goroutines, %d bytes\n", out, runtime.NumGoroutine(), size)
}

// ---- heap profile: every allocation sampled, from 2^k distinct call paths ----

var keep [][]byte

//go:noinline
func left(depth, path int) { step(depth, path) }

//go:noinline
func right(depth, path int) { step(depth, path) }

//go:noinline
func step(depth, path int) {
	if depth == 0 {
		keep = append(keep, buffer(path))
		return
	}
	branch(depth, path)
}

// buffer and branch are small enough for the compiler to inline, as real allocation helpers and dispatchers are:
// every stack has inlined frames (the leaf's and one per level), so heap top prints pprof's "(inline)" markers.
func buffer(path int) []byte { return make([]byte, 16+(path%13)*32) }

func branch(depth, path int) {
	if path&(1<<depth) != 0 {
		left(depth-1, path)
	} else {
		right(depth-1, path)
	}
}

func writeHeap(samples, grow int, out string) {
	runtime.MemProfileRate = 1
	depth := 1
	for 1<<depth < samples {
		depth++
	}
	// Sized up front: keep's own growth would otherwise be a large, moving allocation inside step.
	keep = make([][]byte, 0, 2*samples) // the same size with and without -grow: only step differs
	// Round 0 allocates on every path. Round 1 (-grow N) walks every Nth path again from the same call site,
	// so the stacks (profile buckets) are the same and only their in-use values grow, as in a later snapshot of
	// a leaking process. Diff it against a profile written with -grow 0 by the same binary.
	for round := 0; round < 2; round++ {
		every := 1
		if round == 1 {
			if grow <= 0 {
				break
			}
			every = grow
		}
		for i := 0; i < samples; i += every {
			step(depth, i<<1)
		}
	}
	runtime.GC()
	f, err := os.Create(out)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s: heap profile of %d call paths\n", out, samples)
}
