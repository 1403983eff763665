// Package harness is the small amount of plumbing every corpus server shares:
// listen on loopback, mount net/http/pprof, expvar and a hand-written
// Prometheus /metrics, and talk to scripts/capture_fixtures.py over stdout.
//
// Protocol with the capture script (one line each, on stdout):
//
//	LISTEN 127.0.0.1:NNNNN   as soon as the socket is bound (first line)
//	READY                    once every goroutine is parked where intended
//
// Every response also carries X-Goroutines: runtime.NumGoroutine() taken in
// the handler right before the body is produced. The script records it as an
// independent oracle for the goroutine count in the profile written by the
// same request (the request's own goroutines are in both numbers).
package harness

import (
	_ "expvar" // registers /debug/vars on http.DefaultServeMux
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/* on http.DefaultServeMux
	"os"
	"runtime"
	"strconv"
	"time"

	"leaksleuth.test/corpus/internal/promtext"
)

// Addr is the -addr flag shared by all servers. Port 0 picks a free port.
var Addr = flag.String("addr", "127.0.0.1:0", "listen address (host:port, port 0 = any free port)")

var listening string

// Listening returns the bound host:port once Serve has run (programs that call themselves need it).
func Listening() string { return listening }

// Serve binds Addr, prints the LISTEN line and serves in a background
// goroutine. It exits the process if the address cannot be bound, because a
// fixture server that is not listening is useless.
func Serve() {
	ln, err := net.Listen("tcp", *Addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	http.Handle("/metrics", promtext.Handler())
	srv := &http.Server{
		Handler:           countingHandler(http.DefaultServeMux),
		ReadHeaderTimeout: 10 * time.Second,
	}
	listening = ln.Addr().String()
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
	}()
}

// Ready tells the capture script that the goroutines are in place. The short
// sleep lets goroutines that were just unblocked from their "started" signal
// actually reach their parking call (runnable -> waiting).
func Ready() {
	time.Sleep(100 * time.Millisecond)
	fmt.Println("READY")
}

func countingHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Goroutines", strconv.Itoa(runtime.NumGoroutine()))
		next.ServeHTTP(w, r)
	})
}
