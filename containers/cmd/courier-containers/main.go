// Command courier-containers starts a broker for courier's tests with testcontainers-go,
// prints its address on one line, and removes it when its standard input closes (the test
// process that started it has exited) or it is interrupted.
//
//	courier-containers redis|rabbitmq|kafka|pulsar
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/courier-go/courier/containers"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: courier-containers %s\n", strings.Join(containers.Kinds(), "|"))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	b, err := containers.Start(startCtx, os.Args[1])
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(b.Addr)
	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-stdinClosed:
	case <-ctx.Done():
	}
	termCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Terminate(termCtx); err != nil {
		fmt.Fprintln(os.Stderr, "courier-containers: terminate:", err)
		os.Exit(1)
	}
}
