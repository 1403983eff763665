// Package promtext writes the Go runtime and process metrics in the Prometheus
// text exposition format (version 0.0.4), by hand, with the same metric names,
// HELP strings and TYPE lines as prometheus/client_golang's default Go and
// process collectors.
//
// Why by hand: the corpus is stdlib-only (there is no module proxy here), but
// leaksleuth must parse what real services expose on /metrics, so the output
// has to look exactly like client_golang's: families sorted by name, HELP
// before TYPE, summaries with quantile labels plus _sum and _count.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ContentType is what client_golang's promhttp sends for the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

type sample struct {
	suffix string // "", "_sum", "_count"
	labels string // already rendered, e.g. `quantile="0.5"`
	value  float64
}

type family struct {
	name, help, typ string
	samples         []sample
}

func gauge(name, help string, v float64) family {
	return family{name, help, "gauge", []sample{{value: v}}}
}

func counter(name, help string, v float64) family {
	return family{name, help, "counter", []sample{{value: v}}}
}

// Handler serves the exposition on GET.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		if err := Write(w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// Write renders all families to w.
func Write(w io.Writer) error {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	fams := goFamilies(&ms)
	fams = append(fams, processFamilies()...)
	// client_golang's Gatherer sorts metric families by name.
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })

	bw := bufio.NewWriter(w)
	for _, f := range fams {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, s := range f.samples {
			bw.WriteString(f.name + s.suffix)
			if s.labels != "" {
				bw.WriteString("{" + s.labels + "}")
			}
			bw.WriteString(" " + formatFloat(s.value) + "\n")
		}
	}
	return bw.Flush()
}

// formatFloat matches the Go client's text encoder (strconv 'g', -1).
func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func goFamilies(ms *runtime.MemStats) []family {
	const ns = "go_memstats_"
	threads, _ := runtime.ThreadCreateProfile(nil) // what client_golang reports as go_threads

	// go_gc_duration_seconds: a summary built from debug.ReadGCStats, min/quartiles/max.
	var gs debug.GCStats
	gs.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gs)
	gc := family{name: "go_gc_duration_seconds", typ: "summary",
		help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles."}
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		gc.samples = append(gc.samples, sample{labels: `quantile="` + q + `"`, value: gs.PauseQuantiles[i].Seconds()})
	}
	gc.samples = append(gc.samples,
		sample{suffix: "_sum", value: gs.PauseTotal.Seconds()},
		sample{suffix: "_count", value: float64(gs.NumGC)})

	return []family{
		gc,
		gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		{"go_info", "Information about the Go environment.", "gauge",
			[]sample{{labels: `version="` + runtime.Version() + `"`, value: 1}}},
		gauge("go_threads", "Number of OS threads created.", float64(threads)),
		gauge(ns+"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", float64(ms.Alloc)),
		counter(ns+"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", float64(ms.TotalAlloc)),
		gauge(ns+"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", float64(ms.BuckHashSys)),
		counter(ns+"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", float64(ms.Frees)),
		gauge(ns+"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", float64(ms.GCSys)),
		gauge(ns+"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", float64(ms.HeapAlloc)),
		gauge(ns+"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", float64(ms.HeapIdle)),
		gauge(ns+"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", float64(ms.HeapInuse)),
		gauge(ns+"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", float64(ms.HeapObjects)),
		gauge(ns+"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", float64(ms.HeapReleased)),
		gauge(ns+"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", float64(ms.HeapSys)),
		gauge(ns+"last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(gs.LastGC.UnixNano())/1e9),
		counter(ns+"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", float64(ms.Mallocs)),
		gauge(ns+"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", float64(ms.MCacheInuse)),
		gauge(ns+"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", float64(ms.MCacheSys)),
		gauge(ns+"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", float64(ms.MSpanInuse)),
		gauge(ns+"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", float64(ms.MSpanSys)),
		gauge(ns+"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", float64(ms.NextGC)),
		gauge(ns+"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", float64(ms.OtherSys)),
		gauge(ns+"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", float64(ms.StackInuse)),
		gauge(ns+"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", float64(ms.StackSys)),
		gauge(ns+"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", float64(ms.Sys)),
	}
}

// processFamilies reads /proc/self like client_golang's process collector
// (via prometheus/procfs). On a system without /proc it returns nothing, which
// is also what the real collector does.
func processFamilies() []family {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return nil
	}
	// Fields after the ")" that closes the command name; index 0 is field 3 (state).
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	num := func(field int) float64 { // field numbers as in proc(5)
		v, _ := strconv.ParseFloat(f[field-3], 64)
		return v
	}
	const userHZ = 100 // procfs assumes USER_HZ=100, as does client_golang
	pageSize := float64(os.Getpagesize())

	out := []family{
		counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (num(14)+num(15))/userHZ),
		gauge("process_resident_memory_bytes", "Resident memory size in bytes.", num(24)*pageSize),
		gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", num(23)),
	}
	if bt := bootTime(); bt > 0 {
		out = append(out, gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", bt+num(22)/userHZ))
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		out = append(out, gauge("process_open_fds", "Number of open file descriptors.", float64(len(ents))))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		out = append(out, gauge("process_max_fds", "Maximum number of open file descriptors.", float64(rl.Cur)))
	}
	return out
}

// bootTime is the "btime" line of /proc/stat, seconds since the epoch.
func bootTime() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}
