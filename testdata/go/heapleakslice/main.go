// Command heapleakslice leaks through sub-slices that retain large buffers:
// each request reads its body into a fresh 64 KiB buffer and keeps only the
// first 16 bytes "for the audit log" - but buf[:16] shares buf's backing
// array, so the whole 64 KiB stays reachable (the fix: copy the 16 bytes).
//
// leaksleuth's test expects the allocation line marked "LEAK:" below.
package main

import (
	"io"
	"net/http"
	"sync"

	"leaksleuth.test/corpus/internal/heapload"
)

var (
	mu       sync.Mutex
	auditLog [][]byte
)

func upload(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 64<<10) // LEAK: retained whole by the 16-byte sub-slice below
	n, err := io.ReadFull(r.Body, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	mu.Lock()
	auditLog = append(auditLog, buf[:min(n, 16)])
	mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func main() {
	heapload.Run(http.HandlerFunc(upload), 20, func(i int) *http.Request { return heapload.Post(i, "/upload", 2048) })
}
