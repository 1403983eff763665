// Command heapwarmup is healthy: a lazily filled lookup table over a finite
// key space (3000 products). Requests ask for random products, so the table
// grows fast at first and ever slower as fewer keys are new (it reaches 95%
// of its final 12 MiB in about 9 seconds), then stays. leaksleuth must call
// that a warm-up that plateaus, not a leak.
package main

import (
	"math/rand"
	"net/http"
	"strconv"
	"sync"

	"leaksleuth.test/corpus/internal/heapload"
)

const products = 3000

var (
	mu      sync.Mutex
	catalog = make(map[int][]byte, products)
)

func product(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.URL.Query().Get("id"))
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	mu.Lock()
	description, ok := catalog[id]
	if !ok {
		description = make([]byte, 4<<10) // loaded once per product, kept for good
		catalog[id] = description
	}
	mu.Unlock()
	_, _ = w.Write(description[:8])
}

func main() {
	random := rand.New(rand.NewSource(1))
	heapload.Run(http.HandlerFunc(product), 1000, func(i int) *http.Request {
		return heapload.Get(i, "/product?id="+strconv.Itoa(random.Intn(products)))
	})
}
