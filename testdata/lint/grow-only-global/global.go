// Package growonlyglobal: package-level collections that only grow (the heap-leak cousin).
package growonlyglobal

import "sync"

var sessions = map[string][]byte{}

var visits sync.Map

var auditLog [][]byte

// leaks: a map written per request and never deleted from.
func remember(id string, data []byte) {
	sessions[id] = data // want "grow-only-global"
}

// leaks: a sync.Map that only stores.
func visit(path string) {
	visits.Store(path, true) // want "grow-only-global"
}

// leaks: appended for ever.
func audit(entry []byte) {
	auditLog = append(auditLog, entry) // want "grow-only-global"
}

var cache = map[string]int{}

// fixed: entries are deleted when done.
func track(key string, value int) {
	cache[key] = value
}

func forget(key string) {
	delete(cache, key)
}

var recent [][]byte

// fixed: bounded by a length check.
func keep(entry []byte) {
	if len(recent) >= 100 {
		recent = recent[1:]
	}
	recent = append(recent, entry)
}

var shards = map[int]int{}

// look-alike: a bounded set of keys.
func count(n int) {
	shards[n%16] = n
}
