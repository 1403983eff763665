// Command heapchurn is healthy: pure GC churn. Every request builds a large
// temporary response (64 KiB to 1 MiB) and keeps nothing, so the heap in use
// only wobbles with GC timing. leaksleuth must find no trend.
package main

import (
	"bytes"
	"math/rand"
	"net/http"

	"leaksleuth.test/corpus/internal/heapload"
)

var random = rand.New(rand.NewSource(7))

func report(w http.ResponseWriter, r *http.Request) {
	var out bytes.Buffer
	rows := 64 + random.Intn(960)
	row := bytes.Repeat([]byte{'r'}, 1023)
	for range rows {
		out.Write(row)
		out.WriteByte('\n')
	}
	_, _ = w.Write(out.Bytes()[:32])
}

func main() {
	heapload.Run(http.HandlerFunc(report), 200, func(i int) *http.Request { return heapload.Get(i, "/report") })
}
