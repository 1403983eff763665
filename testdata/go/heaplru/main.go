// Command heaplru is healthy: a bounded LRU cache of 4 KiB responses that
// fills up in a few seconds and then holds its size, evicting the least
// recently used entry for every new one. A heap trend over the fill looks
// like a leak; leaksleuth must see it flatten and stay quiet.
package main

import (
	"container/list"
	"net/http"
	"strconv"
	"sync"

	"leaksleuth.test/corpus/internal/heapload"
)

const capacity = 2000 // entries: 8 MiB of values when full

type entry struct {
	key   string
	value []byte
}

type lru struct {
	mu      sync.Mutex
	order   *list.List
	entries map[string]*list.Element
}

func (c *lru) get(key string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if element, ok := c.entries[key]; ok {
		c.order.MoveToFront(element)
		return element.Value.(*entry).value
	}
	value := make([]byte, 4<<10) // the response "rendered" for key
	copy(value, key)
	c.entries[key] = c.order.PushFront(&entry{key: key, value: value})
	if c.order.Len() > capacity {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*entry).key)
	}
	return value
}

func main() {
	cache := &lru{order: list.New(), entries: map[string]*list.Element{}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(cache.get(r.URL.Query().Get("page"))[:16])
	})
	// every request asks for a page never seen before: the cache fills at 500 entries/s, then only evicts
	heapload.Run(handler, 500, func(i int) *http.Request { return heapload.Get(i, "/render?page="+strconv.Itoa(i)) })
}
