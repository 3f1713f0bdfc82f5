// Command benchtool is perf/bench.sh's helper, so that make bench needs
// nothing but Go and bash on the machine:
//
//	benchtool ports N            print N free loopback addresses
//	benchtool wait URL TIMEOUT   wait until URL answers 200 OK
//	benchtool table MANIFEST     print the markdown table of the runs
//
// A manifest has one run per line, tab-separated: the run's label, the
// ringexd sync policy, the exit status of ringex-load, and its output
// directory (which holds summary.json).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ringex/ringex/perf"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: benchtool ports N | wait URL TIMEOUT | table MANIFEST")
	}
	switch {
	case args[0] == "ports" && len(args) == 2:
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			return fmt.Errorf("ports: bad count %q", args[1])
		}
		addrs, err := freeAddrs(n)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, strings.Join(addrs, " "))
	case args[0] == "wait" && len(args) == 3:
		d, err := time.ParseDuration(args[2])
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		return wait(args[1], d)
	case args[0] == "table" && len(args) == 2:
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		return table(f, w)
	default:
		return fmt.Errorf("unknown command %q", strings.Join(args, " "))
	}
	return nil
}

// freeAddrs holds n listeners open at once, so the ports differ, then
// frees them.
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out, nil
}

func wait(url string, d time.Duration) error {
	hc := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v: %v", url, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// table renders the manifest's runs as one markdown table.
func table(r io.Reader, w io.Writer) error {
	fmt.Fprintln(w, "| run | sync | target/s | achieved/s | sent | rejected | lost | ack p50 | ack p99 | ack p99.9 | ack p99.99 | ack max | fill p99 | trade delivery p99 | send lag p99 | checks |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			return fmt.Errorf("manifest line %q: want 4 tab-separated fields", sc.Text())
		}
		label, sync, status, dir := f[0], f[1], f[2], f[3]
		b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
		if err != nil {
			fmt.Fprintf(w, "| %s | %s | | | | | | | | | | | | | | no result (exit %s) |\n", label, sync, status)
			continue
		}
		var res perf.Result
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		lat := map[string]perf.Percentiles{}
		for _, p := range res.Latencies {
			lat[p.Name] = p
		}
		target := "max"
		if res.Mode != "max-throughput" {
			target = fmt.Sprintf("%.0f", res.TargetRate)
		}
		checks := "passed"
		if !res.OK() || status != "0" {
			checks = "FAILED: " + strings.Join(res.Failures, "; ")
		}
		ack := lat["ack"]
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			label, sync, target, res.Rate, res.Sent, res.Rejected, res.Lost,
			us(ack.P50), us(ack.P99), us(ack.P999), us(ack.P9999), us(ack.Max),
			us(lat["order-to-fill"].P99), us(lat["trade-delivery"].P99), us(lat["send-lag"].P99), checks)
	}
	return sc.Err()
}

// us formats microseconds readably: 87 us, 1.52 ms, 2.3 s.
func us(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 1000:
		return fmt.Sprintf("%.0f us", v)
	case v < 1e6:
		return fmt.Sprintf("%.2f ms", v/1000)
	default:
		return fmt.Sprintf("%.2f s", v/1e6)
	}
}
