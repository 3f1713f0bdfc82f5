package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringex/ringex/adminapi"
)

// runToExit runs ringexd with args, which must make it exit by itself
// within 20 seconds, and returns its exit status and standard error.
func runToExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(ringexdBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("ringexd %v still running after 20s:\n%s", args, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestBadFlagsStopBeforeListening: a bad flag stops ringexd with exit
// status 1 and one line naming the flag, before it opens anything. Before,
// -pin with a CPU outside the affinity set failed only after the listeners
// were open, printing its error three times, and -max-conns -1 panicked.
func TestBadFlagsStopBeforeListening(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-pin", "journal=5000"}, "ringexd: -pin: journal=5000: CPU 5000 is not in the process's affinity set"},
		{[]string{"-max-conns", "-1"}, "ringexd: -max-conns -1: want 1-1000000"},
		{[]string{"stray"}, `ringexd: unexpected argument "stray"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"-data", dir, "-listen", freePort(t), "-md-listen", freePort(t), "-admin", ""}, tc.args...)
			code, stderr := runToExit(t, args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and the one line %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the data directory was created (%v): the flag was checked too late", err)
			}
		})
	}
}

// TestSignalDuringStartup sends SIGTERM while ringexd is stuck in start-up
// (reading a users file that is a FIFO nobody writes): it must exit at
// once, by itself, saying why, instead of dying by the signal or hanging.
func TestSignalDuringStartup(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "users")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	cmd := exec.Command(ringexdBinary(t), "-data", filepath.Join(dir, "data"), "-users", fifo,
		"-listen", freePort(t), "-md-listen", freePort(t), "-admin", "")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	starting := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), "ringexd starting") {
				seen = true
				close(starting)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-starting:
	case <-time.After(10 * time.Second):
		// Old binaries log nothing before they serve: signal anyway.
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("ringexd did not exit within 10s of SIGTERM during start-up")
	}
	<-copied
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() || ws.ExitStatus() != 0 || !strings.Contains(log.String(), "signal during start-up") {
		t.Fatalf("after SIGTERM during start-up: %v (signaled %v), log:\n%s\nwant exit 0 with a log line", err, ws.Signaled(), log.String())
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// TestTruncatedJournalRefused stops a server that took orders, cuts its
// newest WAL in half, and restarts it: the start must be refused with one
// line naming the asset and -accept-journal-loss, and that flag must let
// it start.
func TestTruncatedJournalRefused(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "-snapshot-every", "0")
	// One order at a time, so that commands and their events interleave in
	// the WAL (a burst journals every command before most events, and a
	// cut tail then holds only events, which recovery rebuilds).
	trader := s.session("alice", "alice-demo-key", nil)
	for i := range 1500 {
		if _, err := trader.PlaceSync(ctx5(), limit(uint64(i+1), uint8(1+i%2), 6_500_000+int64(i%7-3)*50, 1)); err != nil {
			t.Fatal(err)
		}
	}
	s.stop()

	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	slices.Sort(logs)
	var wal string
	for _, l := range slices.Backward(logs) {
		if fi, err := os.Stat(l); err == nil && fi.Size() > 0 {
			wal = l
			break
		}
	}
	if wal == "" {
		t.Fatalf("no WAL in %s", dir)
	}
	fi, _ := os.Stat(wal)
	if err := os.Truncate(wal, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	code, stderr := runToExit(t, "-data", dir, "-listen", freePort(t), "-md-listen", freePort(t), "-admin", "")
	last := strings.TrimSpace(stderr)
	last = last[strings.LastIndex(last, "\n")+1:]
	if code != 1 || !strings.Contains(last, "asset 1 (BTC-USD)") || !strings.Contains(last, "-accept-journal-loss") {
		t.Fatalf("restart on a truncated WAL: exit %d, stderr:\n%s\nwant exit 1 naming the asset and -accept-journal-loss", code, stderr)
	}
	t.Log(last)
	s = startServer(t, dir, "-accept-journal-loss")
	metrics := adminGet(t, s, "/metrics")
	if !bytes.Contains(metrics, []byte("ringex_journal_available 1")) || !bytes.Contains(metrics, []byte("ringex_journal_background_errors_total 0")) {
		t.Fatalf("journal metrics missing from /metrics")
	}
	var assets []adminapi.Asset
	err := json.Unmarshal(adminGet(t, s, "/assets"), &assets)
	if err != nil || len(assets) != 3 || assets[0].Symbol != "BTC-USD" || assets[0].PriceDecimals != 2 || assets[0].QtyDecimals != 4 {
		t.Fatalf("/assets: %+v, %v", assets, err)
	}
	s.stop()
	if !strings.Contains(s.log.String(), "accepting the loss") {
		t.Fatalf("the accepted loss is not logged:\n%s", s.log.String())
	}
}

// adminGet fetches path from the server's admin port, which may come up a
// moment after the order-entry port that startServer waits for.
func adminGet(t *testing.T, s *server, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + s.admin + path)
		if err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s %v", path, resp.Status, err)
			}
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTakenPortNotRunning: when a listener cannot bind its port ringexd
// exits 1 naming it, without logging "ringexd running" or opening the
// admin port: a script or a test that waits for either must never be sent
// to a server that is about to stop. Before, both came after the failed
// bind, a moment before the exit.
func TestTakenPortNotRunning(t *testing.T) {
	for _, flag := range []string{"-listen", "-md-listen"} {
		t.Run(flag, func(t *testing.T) {
			taken, err := net.Listen("tcp", freePort(t))
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			ports := map[string]string{"-listen": freePort(t), "-md-listen": freePort(t)}
			ports[flag] = taken.Addr().String()
			code, stderr := runToExit(t, "-data", t.TempDir(), "-listen", ports["-listen"], "-md-listen", ports["-md-listen"],
				"-admin", freePort(t))
			if code != 1 || !strings.Contains(stderr, "address already in use") || strings.Contains(stderr, "ringexd running") {
				t.Fatalf("%s on a taken port: exit %d, stderr:\n%s\nwant exit 1 naming the bind error, and no \"ringexd running\"", flag, code, stderr)
			}
		})
	}
}
