// Command memfleet is one replica of a small service whose memory and
// goroutines behave in one chosen way, for leaksleuth's fleet tests: a real
// Prometheus scrapes its /metrics and `leaksleuth fleet` must tell the leaking
// replicas from the healthy ones.
//
//	memfleet -mode heap-leak -addr 127.0.0.1:0
//
// Modes (every one serves the same simulated traffic: a fixed worker pool,
// allocation churn and a bounded cache, so only the chosen behaviour differs):
//
//	healthy         warm-up (fills its cache), then steady: the look-alike baseline
//	heap-leak       keeps 1 MiB per second reachable forever
//	goroutine-leak  starts 25 goroutines per second that block forever
//	load-follow     memory and goroutines go up and down with a varying load
//	offheap         maps 1 MiB per second outside the Go heap (like a cgo leak)
//	gc-off          runs with the GC disabled (GOGC=off), so garbage piles up
//	request-leak    keeps 1 KiB of every request reachable: leaks in proportion to its load
//
// -cpu-quota N declares a container CPU quota of N CPUs (what a pod's
// limits.cpu sets): /metrics/cadvisor then serves what the kubelet's cAdvisor
// would for the container (-namespace, -pod, -container): the quota and
// period, and CFS period counters kept the way the kernel keeps them — every
// 100 ms period in which the process used more CPU than the quota allows is
// counted as throttled. -burn N keeps N goroutines busy 30% of each period.
//
// /metrics is client_golang-compatible (internal/promtext) plus the two
// families promtext does not write: go_gc_gomemlimit_bytes, go_gc_gogc_percent
// and go_sched_gomaxprocs_threads (as client_golang >= 1.17 exports them, from
// runtime/metrics) and app_requests_total (the simulated load).
// net/http/pprof and expvar are mounted too. Protocol on stdout as in
// internal/harness: "LISTEN host:port", then "READY" after the warm-up.
package main

import (
	"errors"
	_ "expvar" // registers /debug/vars
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/*
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"leaksleuth.test/corpus/internal/promtext"
)

var (
	mode = flag.String("mode", "healthy", "healthy, heap-leak, goroutine-leak, load-follow, offheap or gc-off")
	addr = flag.String("addr", "127.0.0.1:0", "listen address (port 0 = any free port)")
	load = flag.Int("load", 20, "requests per 50 ms round (the traffic this replica gets)")

	cpuQuota  = flag.Float64("cpu-quota", 0, "declared container CPU quota in CPUs (0: none, no /metrics/cadvisor)")
	burn      = flag.Int("burn", 0, "goroutines that each keep a CPU busy 30% of the time")
	namespace = flag.String("namespace", "default", "cAdvisor labels of this container")
	pod       = flag.String("pod", "memfleet-0", "")
	container = flag.String("container", "memfleet", "")

	oomAt     = flag.Int("oom-at", 0, "MiB of live heap at which the process SIGKILLs itself (0: never)")
	stormFrom = flag.String("storm-from", "", "peer whose death sends its retries here")
	stormMiB  = flag.Int("storm-mib", 24, "MiB the retry storm holds")
	stormHold = flag.Duration("storm-hold", 20*time.Second, "how long the retry storm's memory is held")
)

const tick = 50 * time.Millisecond // traffic is simulated in 20 rounds per second

var requests atomic.Int64 // app_requests_total

func main() {
	flag.Parse()
	leak, ok := map[string]func(round int){
		"healthy":        func(int) {},
		"heap-leak":      leakHeap,
		"goroutine-leak": leakGoroutines,
		"load-follow":    followLoad,
		"offheap":        leakOffHeap,
		"gc-off":         func(int) {},
		"request-leak":   leakPerRequest,
	}[*mode]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown -mode", *mode)
		os.Exit(2)
	}
	if *mode == "gc-off" {
		debug.SetGCPercent(-1)
	}
	serve()
	for i := 0; i < *burn; i++ {
		go burnCPU()
	}
	if *cpuQuota > 0 {
		go accountCFS()
	}
	if *stormFrom != "" {
		go watchPeer(*stormFrom)
	}
	warmUp()
	fmt.Println("READY")
	for round := 0; ; round++ {
		requests := *load
		if *mode == "load-follow" {
			requests = currentLoad(round)
		}
		traffic(requests)
		leak(round)
		if *oomAt > 0 && runtimeMetric("/gc/heap/live:bytes") >= int64(*oomAt)<<20 {
			fmt.Fprintln(os.Stderr, "OOM: live heap reached", *oomAt, "MiB")
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		time.Sleep(tick)
	}
}

func serve() {
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	http.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", promtext.ContentType)
		if err := promtext.Write(w); err != nil {
			return
		}
		fmt.Fprintf(w, "# HELP go_gc_gomemlimit_bytes Go runtime memory limit configured by the user, otherwise math.MaxInt64. "+
			"This value is set by GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. "+
			"Sourced from /gc/gomemlimit:bytes.\n# TYPE go_gc_gomemlimit_bytes gauge\ngo_gc_gomemlimit_bytes %g\n",
			float64(debug.SetMemoryLimit(-1)))
		gogc, procs := runtimeMetric("/gc/gogc:percent"), runtimeMetric("/sched/gomaxprocs:threads")
		fmt.Fprintf(w, "# HELP go_gc_gogc_percent Heap size target percentage configured by the user, otherwise 100. "+
			"This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. "+
			"Sourced from /gc/gogc:percent.\n# TYPE go_gc_gogc_percent gauge\ngo_gc_gogc_percent %d\n", gogc)
		fmt.Fprintf(w, "# HELP go_sched_gomaxprocs_threads The current runtime.GOMAXPROCS setting, or the number of "+
			"operating system threads that can execute user-level Go code simultaneously. Sourced from "+
			"/sched/gomaxprocs:threads.\n# TYPE go_sched_gomaxprocs_threads gauge\ngo_sched_gomaxprocs_threads %d\n", procs)
		fmt.Fprintf(w, "# HELP app_requests_total Requests handled.\n# TYPE app_requests_total counter\napp_requests_total %d\n",
			requests.Load())
	})
	http.HandleFunc("/metrics/cadvisor", serveCadvisor)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
	}()
}

// ---- the traffic every mode shares ------------------------------------------------------------

var (
	cache   [][]byte // bounded: filled during warm-up, then entries are replaced, never added
	recent  [64][]byte
	work    = make(chan []byte)
	sink    atomic.Int64
	started sync.Once
)

// warmUp fills the cache (8 MiB) and starts the fixed worker pool, like a
// service loading its working set at start: memory rises once, then holds.
func warmUp() {
	for i := 0; i < 128; i++ {
		cache = append(cache, filled(64<<10))
		time.Sleep(5 * time.Millisecond)
	}
	started.Do(func() {
		for i := 0; i < 8; i++ {
			go worker()
		}
	})
}

func worker() {
	for buf := range work {
		sink.Add(int64(len(buf)))
	}
}

// traffic handles `load` requests: each allocates a response buffer (garbage
// once handled), a few replace cache entries and recent responses.
func traffic(load int) {
	for i := 0; i < load; i++ {
		buf := filled(8 << 10)
		recent[(int(requests.Load())+i)%len(recent)] = buf
		work <- buf
	}
	cache[int(requests.Load())%len(cache)] = filled(64 << 10)
	requests.Add(int64(load))
}

// filled allocates n bytes and writes every page, as real data does: memory
// the runtime got fresh from the OS is not resident until it is written.
func filled(n int) []byte {
	buf := make([]byte, n)
	for page := 0; page < n; page += 4096 {
		buf[page] = 1
	}
	return buf
}

// ---- the modes --------------------------------------------------------------------------------

var leaked [][]byte

func leakHeap(round int) {
	if round%4 == 0 { // 256 KiB every 200 ms = 1.25 MiB/s, reachable forever
		leaked = append(leaked, filled(256<<10)) // LEAK: heap-leak
	}
}

// leakPerRequest keeps 1 KiB of each of this round's requests forever (a
// per-request cache entry nobody evicts): the leak rate follows the load.
func leakPerRequest(int) {
	for i := 0; i < *load; i++ {
		leaked = append(leaked, filled(1<<10)) // LEAK: request-leak
	}
}

var never = make(chan struct{})

func leakGoroutines(round int) {
	if round%4 == 0 { // 5 goroutines every 200 ms = 25 per second, blocked forever
		for i := 0; i < 5; i++ {
			go func() {
				<-never // LEAK: goroutine-leak
			}()
		}
	}
}

// currentLoad is a load that rises and falls (period 30 s, between 10 and 90
// requests per round), like daily traffic compressed into seconds.
func currentLoad(round int) int {
	phase := 2 * math.Pi * float64(round) * tick.Seconds() / 30
	return 50 + int(40*math.Sin(phase))
}

var (
	inFlight   [][]byte
	inFlightMu sync.Mutex
	inFlightGo []chan struct{}
)

// followLoad keeps memory and goroutines proportional to the current load:
// 256 KiB and one goroutine per unit of load are held while it lasts and
// released when the load falls. Proportional to load is not a leak.
func followLoad(round int) {
	load := currentLoad(round)
	inFlightMu.Lock()
	defer inFlightMu.Unlock()
	for len(inFlight) < load {
		inFlight = append(inFlight, filled(256<<10))
		done := make(chan struct{})
		inFlightGo = append(inFlightGo, done)
		go func() { <-done }()
	}
	for len(inFlight) > load {
		inFlight = inFlight[:len(inFlight)-1]
		close(inFlightGo[len(inFlightGo)-1])
		inFlightGo = inFlightGo[:len(inFlightGo)-1]
	}
}

var mapped [][]byte

// leakOffHeap maps anonymous memory and touches every page: resident memory
// that the Go heap does not know about, as a cgo allocation that is never freed.
func leakOffHeap(round int) {
	if round%4 != 0 {
		return
	}
	region, err := syscall.Mmap(-1, 0, 256<<10, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE) // LEAK: offheap
	if err != nil {
		fmt.Fprintln(os.Stderr, "mmap:", err)
		os.Exit(1)
	}
	for page := 0; page < len(region); page += 4096 {
		region[page] = 1
	}
	mapped = append(mapped, region)
}

// ---- the declared CPU quota ---------------------------------------------------------------------

func runtimeMetric(name string) int64 {
	sample := []metrics.Sample{{Name: name}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	v := sample[0].Value.Uint64()
	if v > math.MaxInt64 { // GOGC=off reads as the largest uint64 on some versions
		return -1
	}
	return int64(v)
}

// burnCPU keeps one CPU busy 30 ms of every 100 ms.
func burnCPU() {
	for {
		until := time.Now().Add(30 * time.Millisecond)
		x := 0
		for time.Now().Before(until) {
			x++
		}
		sink.Add(int64(x & 1))
		time.Sleep(70 * time.Millisecond)
	}
}

const cfsPeriod = 100 * time.Millisecond

var periods, throttled atomic.Int64

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// accountCFS counts periods as the kernel's CFS bandwidth control does for a
// cgroup with this quota: a period in which more CPU time was used than the
// quota allows is one the kernel would have throttled.
func accountCFS() {
	allowed := time.Duration(*cpuQuota * float64(cfsPeriod))
	last := cpuTime()
	for range time.Tick(cfsPeriod) {
		now := cpuTime()
		periods.Add(1)
		if now-last > allowed {
			throttled.Add(1)
		}
		last = now
	}
}

func serveCadvisor(w http.ResponseWriter, _ *http.Request) {
	if *cpuQuota <= 0 {
		http.NotFound(w, nil)
		return
	}
	labels := fmt.Sprintf("container=%q,namespace=%q,pod=%q", *container, *namespace, *pod)
	w.Header().Set("Content-Type", promtext.ContentType)
	period := cfsPeriod.Microseconds()
	fmt.Fprintf(w, "# HELP container_cpu_cfs_periods_total Number of elapsed enforcement period intervals.\n"+
		"# TYPE container_cpu_cfs_periods_total counter\ncontainer_cpu_cfs_periods_total{%s} %d\n", labels, periods.Load())
	fmt.Fprintf(w, "# HELP container_cpu_cfs_throttled_periods_total Number of throttled period intervals.\n"+
		"# TYPE container_cpu_cfs_throttled_periods_total counter\ncontainer_cpu_cfs_throttled_periods_total{%s} %d\n",
		labels, throttled.Load())
	fmt.Fprintf(w, "# HELP container_spec_cpu_period CPU period of the container.\n"+
		"# TYPE container_spec_cpu_period gauge\ncontainer_spec_cpu_period{%s} %d\n", labels, period)
	fmt.Fprintf(w, "# HELP container_spec_cpu_quota CPU quota of the container.\n"+
		"# TYPE container_spec_cpu_quota gauge\ncontainer_spec_cpu_quota{%s} %d\n", labels, int64(*cpuQuota*float64(period)))
}

// ---- the retry storm after a peer's OOM kill ----------------------------------------------------

var stormHeld [][]byte

// watchPeer polls the peer every 250 ms; the first failed poll after a
// successful one starts one storm, re-armed once the peer answers again.
func watchPeer(peer string) {
	client := &http.Client{Timeout: time.Second}
	armed := false
	for range time.Tick(250 * time.Millisecond) {
		resp, err := client.Get("http://" + peer + "/metrics")
		if err == nil {
			resp.Body.Close()
			armed = true
			continue
		}
		// gone, not slow: its clients retry here once connections are refused (a slow peer keeps them)
		if armed && errors.Is(err, syscall.ECONNREFUSED) {
			armed = false
			fmt.Fprintln(os.Stderr, "storm: peer", peer, "is down:", err)
			go storm()
		}
	}
}

// storm takes the dead peer's retries: buffers built up over ~2 s, held, then
// released (the connection pools settle, the retries drain).
func storm() {
	chunks := *stormMiB * 16 // 64 KiB each
	for i := 0; i < chunks; i++ {
		inFlightMu.Lock()
		stormHeld = append(stormHeld, filled(64<<10))
		inFlightMu.Unlock()
		time.Sleep(2 * time.Second / time.Duration(chunks))
	}
	time.Sleep(*stormHold)
	inFlightMu.Lock()
	stormHeld = nil
	inFlightMu.Unlock()
}
