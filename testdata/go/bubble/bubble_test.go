package bubble

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestDump parks goroutines inside a synctest bubble, waits until every one of
// them is durably blocked (synctest.Wait), and writes runtime.Stack(all) to the
// file named by LEAKSLEUTH_BUBBLE_DUMP. It prints "GOROUTINES N"
// (runtime.NumGoroutine() right before the dump) for the capture script.
//
// Only operations that synctest treats as durable are used: channels and
// WaitGroups created in the bubble, select, and time.Sleep on the fake clock.
// A goroutine blocked on a sync.Mutex is not durably blocked, so
// synctest.Wait would never return; there is none here.
func TestDump(t *testing.T) {
	out := os.Getenv("LEAKSLEUTH_BUBBLE_DUMP")
	if out == "" {
		t.Skip("set LEAKSLEUTH_BUBBLE_DUMP=path to write the dump")
	}
	synctest.Test(t, func(t *testing.T) {
		recv, send, sel := make(chan int), make(chan int), make(chan string)
		var wg sync.WaitGroup
		wg.Add(1)

		go func() { <-recv }()    // "chan receive (durable)"
		go func() { send <- 1 }() // "chan send (durable)"
		go func() {               // "select (durable)"
			select {
			case <-recv:
			case <-sel:
			}
		}()
		go func() { time.Sleep(time.Hour) }() // "sleep (durable)": fake clock
		go func() { wg.Wait() }()             // "sync.WaitGroup.Wait (durable)"

		synctest.Wait() // returns once all goroutines above are durably blocked
		n := runtime.NumGoroutine()
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if err := os.WriteFile(out, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("GOROUTINES %d\n", n)

		// Unblock everything so the bubble can end cleanly. The fake clock
		// only moves while the root goroutine is blocked too, so sleep past
		// the sleeper's wake-up time before returning.
		close(recv)
		<-send
		close(sel)
		wg.Done()
		time.Sleep(2 * time.Hour)
	})
}
