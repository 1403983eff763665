// Package unlockmissing: mutexes left locked.
package unlockmissing

import "sync"

type Store struct {
	mu    sync.Mutex
	items map[string]int
}

// leaks: the early return leaves the mutex locked: every later Lock waits for ever.
func (s *Store) Get(key string) (int, bool) {
	s.mu.Lock() // want "unlock-missing"
	value, ok := s.items[key]
	if !ok {
		return 0, false
	}
	s.mu.Unlock()
	return value, true
}

var registry sync.RWMutex

// leaks: never unlocked.
func readRegistry() {
	registry.RLock() // want "unlock-missing"
}

// fixed: defer Unlock.
func (s *Store) Put(key string, value int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[key] = value
}

// fixed: unlocked before every return.
func (s *Store) Len() int {
	s.mu.Lock()
	n := len(s.items)
	s.mu.Unlock()
	return n
}

// look-alike: a lock helper whose name says it locks.
func (s *Store) lock() { s.mu.Lock() }
