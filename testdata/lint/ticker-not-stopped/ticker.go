// Package tickernotstopped: tickers and timers that are never stopped.
package tickernotstopped

import (
	"context"
	"time"
)

func refresh() {}

// leaks: the ticker is never stopped and the loop never ends.
func refreshLoop() {
	ticker := time.NewTicker(time.Second) // want "ticker-not-stopped"
	go func() {
		for range ticker.C {
			refresh()
		}
	}()
}

// leaks: time.Tick in a function that returns: its ticker can never be stopped.
func waitTicks(ctx context.Context, n int) {
	tick := time.Tick(time.Second) // want "ticker-not-stopped"
	for i := 0; i < n; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			refresh()
		}
	}
}

// leaks: the timer is not stopped when done wins (it lives until it fires).
func deadline(done chan struct{}) bool {
	timer := time.NewTimer(time.Minute) // want "ticker-not-stopped"
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// fixed: stopped when the function returns, and the loop ends with the context.
func refreshUntil(ctx context.Context) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			refresh()
		}
	}
}

// look-alike: an endless goroutine may use time.Tick (staticcheck SA1015's exception).
func forever() {
	go func() {
		for range time.Tick(time.Second) {
			refresh()
		}
	}()
}

// look-alike: the timer is handed to the caller, who stops it.
func newDeadline() *time.Timer {
	timer := time.NewTimer(time.Minute)
	return timer
}
