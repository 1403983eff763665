// Command replay impersonates a fleet for leaksleuth's watch benchmark: every
// path prefix /t<N>/ is one "service" answering net/http/pprof and /metrics
// requests with real captured bytes. Standard library only.
//
//	replay -dir testdata/captures -addr 127.0.0.1:0
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

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
		_, _ = w.Write(body)
	})
	_ = http.Serve(listener, handler)
}
