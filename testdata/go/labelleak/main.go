// Command labelleak is an HTTP service whose handlers run under pprof labels
// (route, tenant, trace_id) set with pprof.Do, as a tracing middleware would;
// goroutines a handler starts inherit its labels. One route leaks: /export
// starts a goroutine per request that waits forever to hand its result to a
// caller that gave up. The others finish. The program drives its own traffic
// (a few requests per 100 ms, mostly to the healthy routes) so
// `leaksleuth watch` sees which route's goroutines pile up.
//
//	labelleak -addr 127.0.0.1:0
//
// Protocol on stdout as in internal/harness: "LISTEN host:port", then "READY".
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"leaksleuth.test/corpus/internal/harness"
)

var traces atomic.Int64

// labelled wraps a handler the way a tracing middleware does: every request
// runs under its route, tenant and a fresh trace id.
func labelled(route string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		trace := fmt.Sprintf("%016x", traces.Add(1))
		tenant := r.URL.Query().Get("tenant")
		labels := pprof.Labels("route", route, "tenant", tenant, "trace_id", trace)
		pprof.Do(r.Context(), labels, func(ctx context.Context) { next(w, r.WithContext(ctx)) })
	}
}

func export(w http.ResponseWriter, r *http.Request) {
	result := make(chan []byte) // unbuffered: nobody receives once the handler returned
	go func() {
		time.Sleep(5 * time.Millisecond) // the export takes longer than the caller waits
		result <- make([]byte, 256)      // LEAK: labelled-export
	}()
	select {
	case <-result:
	case <-time.After(time.Millisecond): // the caller's deadline
	}
	w.WriteHeader(http.StatusAccepted)
}

func search(w http.ResponseWriter, r *http.Request) {
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	w.WriteHeader(http.StatusOK)
}

func main() {
	flag.Parse()
	http.HandleFunc("/export", labelled("/export", export))
	http.HandleFunc("/search", labelled("/search", search))
	harness.Serve()
	harness.Ready()
	client := &http.Client{Timeout: 2 * time.Second}
	base := "http://" + harness.Listening()
	tenants := []string{"acme", "globex", "initech"}
	for round := 0; ; round++ {
		for i := 0; i < 4; i++ {
			get(client, fmt.Sprintf("%s/search?tenant=%s", base, tenants[(round+i)%3]))
		}
		if round%2 == 0 {
			get(client, fmt.Sprintf("%s/export?tenant=%s", base, tenants[round%3]))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(client *http.Client, url string) {
	resp, err := client.Get(url)
	if err == nil {
		resp.Body.Close()
	}
}
