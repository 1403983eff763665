// Command checkout is leaksleuth's demo service: a tiny HTTP API that serves
// net/http/pprof and expvar, with simulated traffic that either leaks
// goroutines, leaks heap, or stays healthy (-mode). Standard library only.
package main

import (
	_ "expvar"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

var (
	mode = flag.String("mode", "healthy", "healthy, goroutine-leak or heap-leak")
	addr = flag.String("addr", "127.0.0.1:0", "listen address")
	rate = flag.Duration("every", 25*time.Millisecond, "time between simulated requests")
)

func main() {
	flag.Parse()
	runtime.MemProfileRate = 64 << 10 // finer heap sampling than the 512 KiB default, so a minute shows the trend
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", listener.Addr())
	go func() { _ = http.Serve(listener, nil) }()
	handle := map[string]func(int){
		"healthy":        healthyRequest,
		"goroutine-leak": quoteWithTimeout,
		"heap-leak":      rememberSession,
	}[*mode]
	if handle == nil {
		fmt.Fprintln(os.Stderr, "unknown -mode", *mode)
		os.Exit(2)
	}
	startWorkers()
	fmt.Println("READY")
	for i := 0; i < 1_000_000; i++ {
		handle(i)
		time.Sleep(*rate)
	}
}

// ---- healthy: a fixed worker pool does the work ----

var jobs = make(chan int, 64)

func startWorkers() {
	for range 8 {
		go func() {
			for job := range jobs {
				_ = strings.Repeat("x", job%128) // some garbage, collected every cycle
			}
		}()
	}
}

func healthyRequest(i int) { jobs <- i }

// ---- goroutine leak: the worker's result has nowhere to go after the timeout ----

func quoteWithTimeout(i int) {
	healthyRequest(i)
	prices := make(chan int)
	go func() {
		time.Sleep(2 * time.Millisecond) // a slow pricing backend
		prices <- i * 3                  // blocks forever once the caller has given up
	}()
	select {
	case <-prices:
	case <-time.After(time.Millisecond):
	}
}

// ---- heap leak: every session is remembered, none is ever forgotten ----

type session struct {
	id      int
	cart    []byte
	created time.Time
}

var (
	sessionsMu sync.Mutex
	sessions   = map[int]*session{}
)

func rememberSession(i int) {
	healthyRequest(i)
	s := &session{id: i, cart: make([]byte, 8<<10), created: time.Now()}
	sessionsMu.Lock()
	sessions[i] = s // never deleted
	sessionsMu.Unlock()
}
