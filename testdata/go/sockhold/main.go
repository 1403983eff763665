// sockhold opens many TCP connections to itself on loopback and writes into them without the peer reading, so the
// kernel's socket buffers (node_sockstat_TCP_mem) grow. -conns and -bytes bound it; a control run keeps them small.
// Prints READY once the connections are open (golive.running waits for it) and "held N bytes" when the writes are
// done; then keeps the sockets open until killed or -hold ends.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	conns := flag.Int("conns", 200, "connections to open")
	perConn := flag.Int("bytes", 512<<10, "bytes to write into each connection (left unread)")
	over := flag.Duration("over", 20*time.Second, "spread the writes over this long")
	hold := flag.Duration("hold", 10*time.Minute, "keep the sockets open this long, then exit")
	flag.Parse()
	if *conns < 1 || *conns > 5000 || *perConn < 0 || *perConn > 16<<20 {
		fmt.Fprintln(os.Stderr, "sockhold: -conns 1..5000, -bytes 0..16MiB")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	accepted := make(chan net.Conn, *conns)
	go func() {
		for i := 0; i < *conns; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // never read: the data piles up in this socket's receive buffer and the sender's
		}
	}()
	var clients []net.Conn
	for i := 0; i < *conns; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		clients = append(clients, c)
	}
	fmt.Println("READY")
	chunk := make([]byte, 16<<10)
	rounds := (*perConn + len(chunk) - 1) / len(chunk)
	pause := time.Duration(0)
	if rounds > 0 {
		pause = *over / time.Duration(rounds)
	}
	written := 0
	for r := 0; r < rounds; r++ {
		for _, c := range clients {
			// a full buffer would block the write: a deadline leaves that connection as full as it gets
			_ = c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
			n, _ := c.Write(chunk)
			written += n
		}
		time.Sleep(pause)
	}
	fmt.Printf("held %d bytes\n", written)
	time.Sleep(*hold)
}
