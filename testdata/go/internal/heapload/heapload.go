// Package heapload is the traffic and the lifetime of the heap-trend corpus
// programs (heapleakmap, heapleakslice, heaplru, heapwarmup, heapchurn): each
// serves net/http/pprof through internal/harness and replays requests to its
// own handler in-process (httptest), at a fixed rate, for a bounded time.
//
// Requests are built here (their headers and bodies are allocated in this
// package), so whatever a handler keeps is allocated on a line of the handler.
package heapload

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"time"

	"leaksleuth.test/corpus/internal/harness"
)

var (
	rate     = flag.Int("rate", 0, "requests per second (0 = the program's default)")
	lifetime = flag.Duration("lifetime", 90*time.Second, "exit after this long: a forgotten process stops by itself")
)

// SampleRate is the MemProfileRate of every heap-trend program: finer than
// the runtime's 512 KiB default so that a test sampling for ~20 s sees the
// trends that a real service shows over minutes. Set before anything else
// allocates (the runtime reads it at each allocation).
const SampleRate = 64 << 10

// Run serves pprof, then sends perSecond requests per second to handler,
// built by request(i), until the lifetime ends; then the process exits.
func Run(handler http.Handler, perSecond int, request func(i int) *http.Request) {
	runtime.MemProfileRate = SampleRate
	flag.Parse()
	if *rate > 0 {
		perSecond = *rate
	}
	harness.Serve()
	harness.Ready()
	start := time.Now()
	deadline := start.Add(*lifetime)
	const batchesPerSecond = 50 // small batches keep the rate smooth at the profile's time resolution
	ticker := time.NewTicker(time.Second / batchesPerSecond)
	defer ticker.Stop()
	sent := 0
	for now := range ticker.C {
		if now.After(deadline) {
			break
		}
		// what is due by the wall clock, not by ticks received: a starved process (a busy CI machine drops
		// ticks) catches up, so a cache fills and a leak grows at the same wall-clock pace as on an idle one
		due := now.Sub(start).Seconds() * float64(perSecond)
		for ; float64(sent) < due; sent++ {
			recorder := httptest.NewRecorder()
			handler.ServeHTTP(recorder, request(sent))
			if recorder.Code != http.StatusOK {
				fmt.Fprintf(os.Stderr, "request %d: HTTP %d: %s\n", sent, recorder.Code, recorder.Body.String())
				os.Exit(1)
			}
		}
	}
	fmt.Printf("DONE %d requests\n", sent)
	os.Exit(0)
}

// Get is a GET request for path (with the request number in X-Request-Id).
func Get(i int, path string) *http.Request {
	request := httptest.NewRequest(http.MethodGet, path, nil)
	request.Header.Set("X-Request-Id", fmt.Sprintf("req-%08d", i))
	return request
}

// Post is a POST of size bytes to path.
func Post(i int, path string, size int) *http.Request {
	request := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(bytes.Repeat([]byte{'x'}, size)))
	request.Header.Set("X-Request-Id", fmt.Sprintf("req-%08d", i))
	return request
}
