package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/ringex/ringex/perf/echo"
)

// serveEcho runs the echo floor (package perf/echo) on the configured
// addresses until ctx ends: order entry on -echo, market data on -md, the
// asset list on -admin.
func serveEcho(ctx context.Context, c *config) error {
	var s echo.Server
	oe, err := net.Listen("tcp", c.echo)
	if err != nil {
		return err
	}
	md, err := net.Listen("tcp", c.md)
	if err != nil {
		oe.Close()
		return err
	}
	admin, err := net.Listen("tcp", c.admin)
	if err != nil {
		oe.Close()
		md.Close()
		return err
	}
	hs := &http.Server{Handler: s.AdminHandler()}
	errc := make(chan error, 3)
	go func() { errc <- s.ServeOrderEntry(oe) }()
	go func() { errc <- s.ServeMarketData(md) }()
	go func() { errc <- hs.Serve(admin) }()
	fmt.Fprintf(os.Stderr, "ringex-load: echo floor: order entry %s, market data %s, admin http://%s (pid %d)\n",
		oe.Addr(), md.Addr(), admin.Addr(), os.Getpid())
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	hs.Close()
	s.Close()
	if errors.Is(err, echo.ErrServerClosed) || errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
