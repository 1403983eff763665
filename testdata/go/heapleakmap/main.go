// Command heapleakmap leaks through an ever-growing sync.Map of request data:
// every request records a visit under a key made from its request id, and
// nothing ever deletes from the map (the classic "remember everything" bug).
//
// The growing memory is the map's entries (allocated inside sync.Map on the
// Store line) and the keys. leaksleuth's test expects the line marked "LEAK:"
// below: it dominates, and it names the map.
//
// A sync.Map rather than a plain map because its memory grows with every
// entry; a plain map's tables grow in doublings, so over a 20-second test its
// own line is a staircase whose last step can look like a plateau.
package main

import (
	"net/http"
	"sync"
	"time"

	"leaksleuth.test/corpus/internal/heapload"
)

type visit struct {
	at     time.Time
	status int
	bytes  int64
}

var visits sync.Map // request key -> visit; never pruned

func record(w http.ResponseWriter, r *http.Request) {
	key := "visit:" + r.Header.Get("X-Request-Id") + r.URL.Path
	visits.Store(key, visit{at: time.Now(), status: http.StatusOK, bytes: r.ContentLength}) // LEAK: never deleted
	w.WriteHeader(http.StatusOK)
}

func main() {
	heapload.Run(http.HandlerFunc(record), 4000, func(i int) *http.Request { return heapload.Get(i, "/api/item") })
}
