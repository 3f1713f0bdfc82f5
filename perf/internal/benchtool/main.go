// Command benchtool is perf/bench.sh's helper, so that make bench needs
// nothing but Go and bash on the machine:
//
//	benchtool ports N            print N free loopback addresses
//	benchtool wait URL TIMEOUT   wait until URL answers 200 OK
//	benchtool table MANIFEST     print the markdown table of the runs
//	benchtool compare MANIFEST   print the floor comparison: medians, ranges, ratios to the echo
//	benchtool fanout MANIFEST    print the fan-out comparison: ringexd against the fan-out floors
//
// A table manifest has one run per line, tab-separated: the run's label,
// the server (a ringexd sync policy, or "echo"), the exit status of
// ringex-load, and its output directory (which holds summary.json). A
// compare manifest has the same fields after a first one, the
// configuration (runs of one configuration are compared with its "echo"
// runs). A fan-out manifest has five fields: the subscribers, the
// server's label, its kind (ringexd, naive or coalesce), the exit status
// and the directory holding fanout.json.
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
	"sort"
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
		return fmt.Errorf("usage: benchtool ports N | wait URL TIMEOUT | table MANIFEST | compare MANIFEST | fanout MANIFEST")
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
	case args[0] == "compare" && len(args) == 2:
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		return compare(f, w)
	case args[0] == "fanout" && len(args) == 2:
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		return fanoutTables(f, w)
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
	fmt.Fprintln(w, "| run | server | target/s | achieved/s | sent | rejected | lost | ack p50 | ack p99 | ack p99.9 | ack p99.99 | ack max | fill p99 | trade delivery p99 | send lag p99 | server CPU/order | server syscalls/order | server ctx sw/order | generator CPU/order | checks |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	runs, err := readManifest(r, 4)
	if err != nil {
		return err
	}
	for _, f := range runs {
		label, server, status, dir := f[0], f[1], f[2], f[3]
		res, err := readResult(dir)
		if err != nil {
			return err
		}
		if res == nil {
			fmt.Fprintf(w, "| %s | %s | | | | | | | | | | | | | | | | | | no result (exit %s) |\n", label, server, status)
			continue
		}
		lat := latencies(res)
		target := "max"
		if res.Mode != "max-throughput" {
			target = fmt.Sprintf("%.0f", res.TargetRate)
		}
		srv := res.Server
		if srv == nil {
			srv = &perf.Costs{}
		}
		ack := lat["ack"]
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			label, server, target, res.Rate, res.Sent, res.Rejected, res.Lost,
			us(ack.P50), us(ack.P99), us(ack.P999), us(ack.P9999), us(ack.Max),
			us(lat["order-to-fill"].P99), us(lat["trade-delivery"].P99), us(lat["send-lag"].P99),
			cpu(srv.CPUMicros), count(srv.Syscalls), count(srv.CtxSwitches), cpu(res.Generator.CPUMicros), checks(res, status))
	}
	return nil
}

// readManifest reads tab-separated lines of n fields, skipping blank ones.
func readManifest(r io.Reader, n int) ([][]string, error) {
	var out [][]string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != n {
			return nil, fmt.Errorf("manifest line %q: want %d tab-separated fields", sc.Text(), n)
		}
		out = append(out, f)
	}
	return out, sc.Err()
}

// readResult reads dir/summary.json; a missing file is a nil result.
func readResult(dir string) (*perf.Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, nil
	}
	var res perf.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &res, nil
}

func latencies(res *perf.Result) map[string]perf.Percentiles {
	lat := map[string]perf.Percentiles{}
	for _, p := range res.Latencies {
		lat[p.Name] = p
	}
	return lat
}

func checks(res *perf.Result, status string) string {
	if !res.OK() || status != "0" {
		return "FAILED: " + strings.Join(res.Failures, "; ")
	}
	return "passed"
}

// A metric is one figure compare reports for each group of runs.
type metric struct {
	name   string
	get    func(*perf.Result) float64
	format func(float64) string
}

var compared = []metric{
	{"acks/s", func(r *perf.Result) float64 { return r.Rate }, func(v float64) string { return fmt.Sprintf("%.0f k", v/1000) }},
	{"ack p50", func(r *perf.Result) float64 { return latencies(r)["ack"].P50 }, us},
	{"ack p99", func(r *perf.Result) float64 { return latencies(r)["ack"].P99 }, us},
	{"ack p99.9", func(r *perf.Result) float64 { return latencies(r)["ack"].P999 }, us},
	{"server CPU/order", func(r *perf.Result) float64 { return serverCosts(r).CPUMicros }, cpu},
	{"server syscalls/order", func(r *perf.Result) float64 { return serverCosts(r).Syscalls }, count},
	{"server ctx sw/order", func(r *perf.Result) float64 { return serverCosts(r).CtxSwitches }, count},
	{"generator CPU/order", func(r *perf.Result) float64 { return r.Generator.CPUMicros }, cpu},
}

func serverCosts(r *perf.Result) perf.Costs {
	if r.Server == nil {
		return perf.Costs{}
	}
	return *r.Server
}

// compare prints, for each configuration, one row per server: each
// metric's median over the repetitions with its range, and its ratio to
// the echo's median in the same configuration.
func compare(r io.Reader, w io.Writer) error {
	runs, err := readManifest(r, 5)
	if err != nil {
		return err
	}
	type group struct {
		config, server string
		results        []*perf.Result
		failed         []string
	}
	var groups []*group
	find := func(config, server string) *group {
		for _, g := range groups {
			if g.config == config && g.server == server {
				return g
			}
		}
		g := &group{config: config, server: server}
		groups = append(groups, g)
		return g
	}
	for _, f := range runs {
		g := find(f[0], f[1])
		res, err := readResult(f[4])
		if err != nil {
			return err
		}
		if res == nil || !res.OK() || f[3] != "0" {
			g.failed = append(g.failed, fmt.Sprintf("run %s: exit %s", f[2], f[3]))
		}
		if res != nil {
			g.results = append(g.results, res)
		}
	}
	fmt.Fprint(w, "| configuration | server | runs |")
	for _, m := range compared {
		fmt.Fprintf(w, " %s |", m.name)
	}
	fmt.Fprint(w, " checks |\n|---|---|--:|")
	for range compared {
		fmt.Fprint(w, "--:|")
	}
	fmt.Fprintln(w, "---|")
	for _, g := range groups {
		var echo *group
		for _, e := range groups {
			if e.config == g.config && e.server == "echo" {
				echo = e
			}
		}
		fmt.Fprintf(w, "| %s | %s | %d |", g.config, g.server, len(g.results))
		for _, m := range compared {
			med, lo, hi := stats(g.results, m.get)
			cell := m.format(med)
			if len(g.results) > 1 {
				cell += fmt.Sprintf(" (%s-%s)", m.format(lo), m.format(hi))
			}
			if echo != nil && echo != g && len(g.results) > 0 {
				if e, _, _ := stats(echo.results, m.get); e > 0 && med >= 0 {
					cell += fmt.Sprintf(" **%.2fx**", med/e)
				}
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		chk := "passed"
		if len(g.failed) > 0 {
			chk = "FAILED: " + strings.Join(g.failed, "; ")
		}
		fmt.Fprintf(w, " %s |\n", chk)
	}
	return nil
}

// stats returns the median, minimum and maximum of get over rs (0s for
// none; the median of an even count is the mean of the middle two).
func stats[T any](rs []T, get func(T) float64) (med, lo, hi float64) {
	if len(rs) == 0 {
		return 0, 0, 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	sort.Float64s(v)
	n := len(v)
	med = v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return med, v[0], v[n-1]
}

// cpu formats microseconds of CPU per order; count a count per order (a
// negative one was not measured).
func cpu(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f us", v)
}

func count(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
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
