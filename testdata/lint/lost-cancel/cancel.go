// Package lostcancel: contexts whose cancel is not called on every path (go vet's lostcancel, and more).
package lostcancel

import (
	"context"
	"time"
)

func work(context.Context) error { return nil }

// leaks: the cancel is discarded.
func discarded(parent context.Context) error {
	ctx, _ := context.WithTimeout(parent, time.Second) // want "lost-cancel"
	return work(ctx)
}

// leaks: the early return skips cancel.
func earlyReturn(parent context.Context, skip bool) error {
	ctx, cancel := context.WithCancel(parent) // want "lost-cancel"
	if skip {
		return nil
	}
	err := work(ctx)
	cancel()
	return err
}

// leaks: cancelled on one branch only.
func oneBranch(parent context.Context, fast bool) {
	ctx, cancel := context.WithDeadline(parent, time.Now().Add(time.Second)) // want "lost-cancel"
	if fast {
		cancel()
	}
	_ = work(ctx)
}

// fixed: defer cancel().
func deferred(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, time.Second)
	defer cancel()
	return work(ctx)
}

// fixed: cancel handed to the caller.
func handedOn(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	return ctx, cancel
}

// fixed: called on every path before each return.
func everyPath(parent context.Context, skip bool) error {
	ctx, cancel := context.WithCancel(parent)
	if skip {
		cancel()
		return nil
	}
	err := work(ctx)
	cancel()
	return err
}
