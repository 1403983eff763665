// Package bubble holds only a test: TestDump (bubble_test.go) dumps all
// goroutine stacks from inside a testing/synctest bubble, where blocked
// goroutines print as e.g. "[chan receive (durable), synctest bubble 1]".
// synctest needs a *testing.T, so this one is a test, not a main program:
//
//	LEAKSLEUTH_BUBBLE_DUMP=/tmp/bubble.txt go test -run TestDump ./bubble
package bubble
