// Command heapkinds retains memory of several allocation kinds and sizes in
// global variables, then serves net/http/pprof so the capture script can take
// heap and allocs profiles (proto and the legacy debug=1 text).
//
// Each kind lives in its own function, so a heap profile attributes it to a
// distinct user-code line (the runtime trims its own frames such as
// runtime.makeslice or runtime.growslice from heap stacks; what tells the
// kinds apart is the line, the call path and the "bytes" label = object size):
//
//	slices   make([]byte, n) for 64 B, 4 KiB, 48 KiB (> 32 KiB: a "large"
//	         object with its own span) and 1 MiB
//	maps     a map grown by inserts and one made with a size hint
//	structs  new(T) and &T{} (a linked list)
//	strings  +=, strings.Builder, fmt.Sprintf
//	append   a slice grown one element at a time (repeated reallocation)
//
// It also allocates and drops garbage (churn), so the allocs profile
// (alloc_space) differs from the heap profile (inuse_space), and GET /grow?n=N
// adds N entries of 16 KiB to an unbounded cache: the classic leak, used to
// take a second heap profile to diff against the first.
package main

import (
	"expvar"
	"flag"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"leaksleuth.test/corpus/internal/harness"
)

type user struct {
	ID    int
	Name  string
	Email string
	Tags  [4]string
}

type node struct {
	next    *node
	payload [48]byte
}

type session struct {
	user  *user
	token [32]byte
}

// Retained forever: these globals are what the heap profile shows in use.
var (
	smallBufs, mediumBufs, largeBufs [][]byte
	hugeBuf                          []byte

	sessions    map[int]*session
	indexByName map[string]int

	users []*user
	list  *node

	labels []string
	ids    []int

	cacheMu sync.Mutex
	cache   = map[string][]byte{}

	sink []byte // defeats dead-code elimination of the churn loop

	cacheEntries = expvar.NewInt("cache_entries") // shows up in /debug/vars
)

func allocSlices() {
	for range 2000 {
		smallBufs = append(smallBufs, make([]byte, 64))
	}
	for range 200 {
		mediumBufs = append(mediumBufs, make([]byte, 4<<10))
	}
	for range 20 {
		largeBufs = append(largeBufs, make([]byte, 48<<10))
	}
	hugeBuf = make([]byte, 1<<20)
}

func growMap() {
	sessions = make(map[int]*session) // no hint: grows by rehashing as it fills
	for i := range 5000 {
		sessions[i] = &session{user: &user{ID: i}}
	}
	indexByName = make(map[string]int, 3000) // sized up front: one allocation site
	for i := range 3000 {
		indexByName["user-"+strconv.Itoa(i)] = i
	}
}

func allocStructs() {
	for i := range 3000 {
		u := new(user)
		u.ID = i
		users = append(users, u)
	}
	for range 4000 {
		list = &node{next: list}
	}
}

func buildStrings() {
	s := ""
	for i := range 300 {
		s += strconv.Itoa(i) + "," // quadratic concatenation: each step a new string
		labels = append(labels, s)
	}
	for i := range 200 {
		var b strings.Builder
		for j := range 50 {
			b.WriteString("segment-")
			b.WriteString(strconv.Itoa(i * j))
		}
		labels = append(labels, b.String())
	}
	for i := range 1000 {
		labels = append(labels, fmt.Sprintf("user-%06d@example.test", i))
	}
}

func appendGrowth() {
	for i := range 200000 { // ~1.6 MB of ints, reallocated ~30 times on the way
		ids = append(ids, i)
	}
}

// churn allocates ~8 MB that becomes garbage immediately.
func churn() {
	for i := range 2000 {
		sink = make([]byte, 4<<10)
		sink[0] = byte(i)
	}
}

// leakyCache is the bug leaksleuth should point at: entries are added per
// request and never evicted.
func leakyCache(n int) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	for range n {
		key := fmt.Sprintf("req-%d", len(cache))
		cache[key] = make([]byte, 16<<10)
	}
	cacheEntries.Set(int64(len(cache)))
}

func main() {
	// Sample (on average) every 512 bytes instead of every 512 KiB, so even
	// small retained kinds get many samples. Set before anything else allocates.
	runtime.MemProfileRate = 512
	flag.Parse()

	http.HandleFunc("/grow", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > 10000 {
			http.Error(w, "n must be 0..10000", http.StatusBadRequest)
			return
		}
		leakyCache(n)
		fmt.Fprintf(w, "cache_entries %d\n", len(cache))
	})
	harness.Serve()

	allocSlices()
	growMap()
	allocStructs()
	buildStrings()
	appendGrowth()
	churn()
	leakyCache(32)

	// Two cycles: the heap profile publishes the state as of the last
	// completed GC, so the retained set above is fully visible after this.
	runtime.GC()
	runtime.GC()
	harness.Ready()
	select {}
}
