// Package workernoexit: goroutines with select {} or a for {} they never leave.
package workernoexit

import (
	"context"
	"time"
)

func poll() {}

// leaks: every call leaves one goroutine parked in select {}.
func startParked() {
	go func() {
		poll()
		select {} // want "worker-no-exit"
	}()
}

// leaks: a poller with no way out.
func startPoller() {
	go func() {
		for { // want "worker-no-exit"
			poll()
			time.Sleep(time.Second)
		}
	}()
}

// fixed: the poller returns when its context ends.
func startPollerWithContext(ctx context.Context) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				poll()
			}
		}
	}()
}

// look-alike: main's background loop lives as long as the process does.
func main() {
	go func() {
		for {
			poll()
			time.Sleep(time.Second)
		}
	}()
}
