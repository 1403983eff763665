// Package waitgroupmisuse: WaitGroups whose Wait can return too early or never.
package waitgroupmisuse

import "sync"

func step(int) bool { return true }

// leaks: Add inside the goroutine: Wait may return before it runs.
func addInside(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		go func() {
			wg.Add(1) // want "waitgroup-misuse"
			defer wg.Done()
			step(i)
		}()
	}
	wg.Wait()
}

// leaks: a return skips Done: Wait blocks for ever.
func doneSkipped(n int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		if !step(n) {
			return // want "waitgroup-misuse"
		}
		wg.Done()
	}()
	wg.Wait()
}

// leaks: Add(2) but one goroutine calls Done.
func countTooHigh() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		step(1)
	}()
	go func() {
		step(2)
	}()
	wg.Wait() // want "waitgroup-misuse"
}

// fixed: Add before go, Done deferred.
func correct(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			step(i)
		}()
	}
	wg.Wait()
}
