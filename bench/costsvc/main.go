// costsvc: a realistic stdlib Go service for bench/target_cost.py, and the fixed-rate load client that measures it.
//
//	costsvc -parked 10000 [-heap-mb 1024]        serve /work (allocating handler), /stats, /debug/pprof, /debug/vars
//	costsvc -load URL -rate 200 -duration 30s    open-loop load at a fixed rate; prints latency percentiles as JSON
//
// Latency is measured from each request's scheduled start (no coordinated omission): a stalled service shows up as
// the queue behind the stall, as it would for real clients.
package main

import (
	"encoding/json"
	"expvar"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime/metrics"
	"sort"
	"strconv"
	"sync"
	"time"
)

type item struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

var served = expvar.NewInt("requests")

// work allocates like an ordinary JSON API handler: build a page of records, encode it, drop it.
func work(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	if n <= 0 || n > 1000 {
		n = 50
	}
	page := make([]item, n)
	for i := range page {
		page[i] = item{ID: i, Name: fmt.Sprintf("item-%d", i), Tags: []string{"a", "b", strconv.Itoa(i)},
			Attrs: map[string]string{"k": strconv.Itoa(i * 7), "owner": "bench"}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
	served.Add(1)
}

// park starts n goroutines that wait for ever, as connection handlers, subscribers and workers do.
func park(n int) {
	never := make(chan struct{})
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			go func() { <-never }()
		case 1:
			go func() {
				select {
				case <-never:
				case <-time.After(24 * time.Hour):
				}
			}()
		default:
			go func() { mu.Lock(); cond.Wait(); mu.Unlock() }()
		}
	}
}

type row struct {
	next *row
	pad  [112]byte
}

var ballast []*row // live heap with pointers (the GC must trace it), as a cache of records would be

func stats(w http.ResponseWriter, _ *http.Request) {
	samples := []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/sched/pauses/total/gc:seconds"},
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}
	metrics.Read(samples)
	out := map[string]any{
		"gc_cycles":  samples[0].Value.Uint64(),
		"goroutines": samples[2].Value.Uint64(),
		"heap_bytes": samples[3].Value.Uint64(),
	}
	if samples[1].Value.Kind() == metrics.KindFloat64Histogram { // counts per bucket: the bench diffs two reads
		h := samples[1].Value.Float64Histogram()
		uppers := make([]float64, len(h.Counts))
		for i := range h.Counts {
			uppers[i] = h.Buckets[i+1]
			if math.IsInf(uppers[i], 1) {
				uppers[i] = h.Buckets[i]
			}
		}
		out["pause_counts"], out["pause_uppers"] = h.Counts, uppers
	}
	_ = json.NewEncoder(w).Encode(out)
}

func serve(parked, heapMB int) {
	for i := 0; i < heapMB; i++ { // 1 MiB at a time: a linked list of 8,192 128-byte rows
		var head *row
		for j := 0; j < 8192; j++ {
			head = &row{next: head}
		}
		ballast = append(ballast, head)
	}
	park(parked)
	http.HandleFunc("/work", work)
	http.HandleFunc("/stats", stats)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("LISTEN", listener.Addr())
	fmt.Println("READY")
	fmt.Fprintln(os.Stderr, http.Serve(listener, nil))
	os.Exit(1)
}

func load(url string, rate int, duration time.Duration) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	total := int(duration.Seconds() * float64(rate))
	latencies := make([]float64, total)
	failed := make([]bool, total)
	gap := time.Second / time.Duration(rate)
	slots := make(chan struct{}, 256) // bounded in flight; a request waiting for a slot is late, and counted so
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * gap)
		time.Sleep(time.Until(due))
		slots <- struct{}{}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer func() { <-slots; wg.Done() }()
			response, err := client.Get(url)
			if err == nil {
				_, err = io.Copy(io.Discard, response.Body)
				response.Body.Close()
			}
			latencies[i] = time.Since(due).Seconds()
			failed[i] = err != nil || response.StatusCode != 200
		}(i, due)
	}
	wg.Wait()
	errors := 0
	for _, f := range failed {
		if f {
			errors++
		}
	}
	sort.Float64s(latencies)
	at := func(q float64) float64 { return latencies[int(math.Min(float64(total-1), q*float64(total)))] }
	_ = json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"requests": float64(total), "errors": float64(errors), "seconds": time.Since(start).Seconds(),
		"p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "max": latencies[total-1],
	})
}

func main() {
	parked := flag.Int("parked", 10000, "goroutines parked for ever")
	heapMB := flag.Int("heap-mb", 0, "live heap held, MiB")
	target := flag.String("load", "", "load-client mode: URL to request")
	rate := flag.Int("rate", 200, "requests per second (load mode)")
	duration := flag.Duration("duration", 30*time.Second, "how long to load (load mode)")
	flag.Parse()
	if *target != "" {
		load(*target, *rate, *duration)
		return
	}
	serve(*parked, *heapMB)
}
