// Package contextnotpropagated: goroutines started by a handler with a fresh context.
package contextnotpropagated

import (
	"context"
	"net/http"
)

func audit(context.Context, string) {}

// leaks: the background work never hears that the request was cancelled.
func handler(w http.ResponseWriter, r *http.Request) {
	go func() {
		audit(context.Background(), r.URL.Path) // want "context-not-propagated"
	}()
	w.WriteHeader(http.StatusAccepted)
}

// leaks: context.TODO is no better.
func todoHandler(w http.ResponseWriter, r *http.Request) {
	go audit(context.TODO(), r.URL.Path) // want "context-not-propagated"
	w.WriteHeader(http.StatusAccepted)
}

// fixed: the request's context is passed on.
func propagated(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	go func() {
		audit(ctx, r.URL.Path)
	}()
	w.WriteHeader(http.StatusAccepted)
}

// look-alike: not a handler: a background job may start from Background.
func startJob() {
	go audit(context.Background(), "job")
}
