// Package sendnoreceiver: a goroutine sends on an unbuffered channel whose only receiver can give up first.
package sendnoreceiver

import (
	"context"
	"time"
)

func compute() int { return 42 }

// leaks: the caller returns on time.After; the goroutine's send then blocks for ever.
func withTimeout() (int, bool) {
	result := make(chan int)
	go func() {
		result <- compute() // want "send-no-receiver"
	}()
	select {
	case v := <-result:
		return v, true
	case <-time.After(time.Millisecond):
		return 0, false
	}
}

// leaks: the caller returns on ctx.Done().
func withContext(ctx context.Context) error {
	errs := make(chan error)
	go func() {
		errs <- nil // want "send-no-receiver"
	}()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fixed: one slot per sender, the send completes after the receiver left.
func withTimeoutBuffered() (int, bool) {
	result := make(chan int, 1)
	go func() {
		result <- compute()
	}()
	select {
	case v := <-result:
		return v, true
	case <-time.After(time.Millisecond):
		return 0, false
	}
}

// fixed: the sender gives up too (select with ctx.Done() around the send).
func withContextBothSides(ctx context.Context) error {
	errs := make(chan error)
	go func() {
		select {
		case errs <- nil:
		case <-ctx.Done():
		}
	}()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// look-alike: the receiver always waits, no early exit.
func plainWait() int {
	result := make(chan int)
	go func() {
		result <- compute()
	}()
	return <-result
}
