// Command replay impersonates a fleet for leaksleuth's watch benchmark: every
// path prefix /t<N>/ is one "service" answering net/http/pprof and /metrics
// requests with real captured bytes. Standard library only.
//
// Every answer differs from the last in the way a live process's do, without
// changing what is analysed: profiles carry the time they were "taken" (a
// second gzip member setting time_nanos; gzip readers and protobuf decoders
// take the concatenation as one), the debug=2 dump a different pointer
// argument of the running goroutine, /metrics a trailing comment. So a store
// content-addressing the blobs writes new ones every round, as it does for a
// real fleet, instead of finding each one already stored.
//
//	replay -dir testdata/captures -addr 127.0.0.1:0
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// a pointer argument as the runtime prints it in a goroutine dump (0x + 11 hex digits)
var pointer = regexp.MustCompile(`0x[0-9a-f]{11}\b`)

var served atomic.Uint64

func main() {
	dir := flag.String("dir", "testdata/captures", "directory with the captured files")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	files := map[string]string{ // endpoint -> capture served for it
		"/debug/pprof/goroutine":             "parked.goroutine.pb.gz",
		"/debug/pprof/goroutine?debug=2":     "parked.goroutine.debug2.txt",
		"/debug/pprof/goroutineleak":         "parked.goroutineleak.pb.gz",
		"/debug/pprof/goroutineleak?debug=2": "parked.goroutineleak.debug2.txt",
		"/debug/pprof/heap":                  "heapkinds.heap.pb.gz",
		"/metrics":                           "parked.metrics.txt",
		"/debug/vars":                        "parked.vars.json",
	}
	bodies := map[string][]byte{}
	for endpoint, name := range files {
		data, err := os.ReadFile(filepath.Join(*dir, name))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		bodies[endpoint] = data
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", listener.Addr())
	fmt.Println("READY")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// strip the /t<N> prefix that makes each virtual target distinct
		path := r.URL.Path
		if strings.HasPrefix(path, "/t") {
			if slash := strings.IndexByte(path[1:], '/'); slash >= 0 {
				path = path[slash+1:]
			}
		}
		key := path
		if debug := r.URL.Query().Get("debug"); debug != "" {
			key += "?debug=" + debug
		}
		body, ok := bodies[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(fresh(key, body, served.Add(1)))
	})
	_ = http.Serve(listener, handler)
}

// fresh is body as answer number n: different bytes, the same analysis.
func fresh(key string, body []byte, n uint64) []byte {
	switch {
	case strings.HasSuffix(key, "?debug=2"):
		first := pointer.FindIndex(body)
		if first == nil {
			return body
		}
		out := bytes.Clone(body)
		copy(out[first[0]:first[1]], fmt.Sprintf("0x%011x", 0xc0000000000+n%0x10000000000))
		return out
	case key == "/metrics":
		return append(bytes.Clone(body), fmt.Sprintf("# replay answer %d\n", n)...)
	case strings.HasPrefix(key, "/debug/pprof/"):
		var member bytes.Buffer
		zw := gzip.NewWriter(&member)
		field := binary.AppendUvarint([]byte{9<<3 | 0}, uint64(time.Now().UnixNano())+n) // time_nanos
		_, _ = zw.Write(field)
		_ = zw.Close()
		return append(bytes.Clone(body), member.Bytes()...)
	}
	return body
}
