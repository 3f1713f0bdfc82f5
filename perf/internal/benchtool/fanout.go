package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ringex/ringex/perf/fanout"
)

// fanoutServer is one server at one number of subscribers, over the
// repetitions of a fan-out manifest: its label ("ringexd", "naive",
// "coalesce 10ms"), its kind (ringexd, naive or coalesce) and the runs'
// results. Its figures are the medians of the runs'.
type fanoutServer struct {
	label, kind string
	runs        []*fanout.Result
	failed      []string // why runs failed, by repetition
	lost, order uint64   // missing + gaps, out of order: summed over the runs
}

func (s *fanoutServer) med(get func(*fanout.Result) float64) float64 {
	m, _, _ := stats(s.runs, get)
	return m
}

func (s *fanoutServer) p99() float64 {
	return s.med(func(r *fanout.Result) float64 { return r.Latency.P99 })
}

// p99Range formats the median p99, with the range when there are several
// runs.
func (s *fanoutServer) p99Range() string {
	m, lo, hi := stats(s.runs, func(r *fanout.Result) float64 { return r.Latency.P99 })
	if len(s.runs) < 2 {
		return us(m)
	}
	return fmt.Sprintf("%s (%s-%s)", us(m), us(lo), us(hi))
}

// fanoutTables prints the fan-out comparison: per number of subscribers,
// ringexd's latency next to the naive floor's and the best coalescing
// floor's (lowest median p99), with the ratios; then every server. A
// manifest line is: subscribers, label, kind, repetition, exit status,
// directory of fanout.json.
func fanoutTables(r io.Reader, w io.Writer) error {
	lines, err := readManifest(r, 6)
	if err != nil {
		return err
	}
	servers := map[int][]*fanoutServer{}
	var order []int
	reps := 0
	for _, l := range lines {
		n, err := strconv.Atoi(l[0])
		if err != nil {
			return fmt.Errorf("fan-out manifest: subscribers %q", l[0])
		}
		if _, ok := servers[n]; !ok {
			order = append(order, n)
		}
		var s *fanoutServer
		for _, x := range servers[n] {
			if x.label == l[1] {
				s = x
			}
		}
		if s == nil {
			s = &fanoutServer{label: l[1], kind: l[2]}
			servers[n] = append(servers[n], s)
		}
		rep, status := l[3], l[4]
		res, err := readFanout(l[5])
		if err != nil {
			s.failed = append(s.failed, fmt.Sprintf("run %s: no result (exit %s)", rep, status))
			continue
		}
		s.runs = append(s.runs, res)
		reps = max(reps, len(s.runs))
		v := res.Verdict
		s.lost += v.Missing + v.Gaps
		s.order += v.OutOfOrder
		switch {
		case !res.OK():
			why := "lost, reordered or errors"
			if len(res.Errors) > 0 {
				why = res.Errors[0]
			}
			s.failed = append(s.failed, fmt.Sprintf("run %s: %s", rep, why))
		case status != "0":
			s.failed = append(s.failed, fmt.Sprintf("run %s: exit %s", rep, status))
		}
	}
	sort.Ints(order)

	median := "the median of each server's runs"
	if reps < 2 {
		median = "one run per server"
	}
	fmt.Fprintf(w, "Per number of subscribers (%s; ratios of the medians; the best floor is the one with the lowest p99):\n\n", median)
	fmt.Fprintln(w, "| subscribers | ringexd p50 / p99 / p99.9 / max | naive floor p99 | best coalescing floor p99 (window) | ringexd p99 / best floor p99 | ringexd CPU / delivery | best floor's CPU / delivery | CPU ratio | ringexd RSS / idle subscriber | missing, out of order (every run) |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, n := range order {
		var rx, naive, coal, best *fanoutServer
		var lost, reordered uint64
		failed := 0
		for _, s := range servers[n] {
			lost += s.lost
			reordered += s.order
			failed += len(s.failed)
			if len(s.runs) == 0 {
				continue
			}
			switch {
			case s.kind == "ringexd":
				rx = s
			case s.kind == "naive" && (naive == nil || s.p99() < naive.p99()):
				naive = s
			case s.kind == "coalesce" && (coal == nil || s.p99() < coal.p99()):
				coal = s
			}
			if (s.kind == "naive" || s.kind == "coalesce") && (best == nil || s.p99() < best.p99()) {
				best = s
			}
		}
		rxLat, naiveP99, coalP99, ratio, rxCPU, bestCPU, cpuRatio, rss := "-", "-", "-", "-", "-", "-", "-", "-"
		if rx != nil {
			rxLat = fmt.Sprintf("%s / %s / %s / %s",
				us(rx.med(func(r *fanout.Result) float64 { return r.Latency.P50 })), rx.p99Range(),
				us(rx.med(func(r *fanout.Result) float64 { return r.Latency.P999 })),
				us(rx.med(func(r *fanout.Result) float64 { return r.Latency.Max })))
			rxCPU = cpu(rx.med(func(r *fanout.Result) float64 { return r.ServerCPU }))
			if v := rx.med(func(r *fanout.Result) float64 { return r.ServerRSSSub }); v >= 0 {
				rss = fmt.Sprintf("%.1f KiB", v)
			}
		}
		if naive != nil {
			naiveP99 = naive.p99Range()
		}
		if coal != nil {
			coalP99 = coal.p99Range() + " (" + strings.TrimPrefix(coal.label, "coalesce ") + ")"
		}
		if best != nil {
			bestCPU = cpu(best.med(func(r *fanout.Result) float64 { return r.ServerCPU })) + " (" + best.label + ")"
		}
		if rx != nil && best != nil && best.p99() > 0 {
			ratio = fmt.Sprintf("**%.2fx**", rx.p99()/best.p99())
			a := rx.med(func(r *fanout.Result) float64 { return r.ServerCPU })
			b := best.med(func(r *fanout.Result) float64 { return r.ServerCPU })
			if a > 0 && b > 0 {
				cpuRatio = fmt.Sprintf("**%.2fx**", a/b)
			}
		}
		checks := fmt.Sprintf("%d, %d", lost, reordered)
		if failed > 0 {
			checks += fmt.Sprintf(" (%d runs FAILED)", failed)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			n, rxLat, naiveP99, coalP99, ratio, rxCPU, bestCPU, cpuRatio, rss, checks)
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "Every server (%s; latency from the trade's time to its arrival; costs per delivery, one trade to one subscriber; RSS per idle subscribed subscriber):\n\n", median)
	fmt.Fprintln(w, "| subscribers | server | runs | trades | p50 | p90 | p99 | p99.9 | max | server CPU | writes | ctx sw | RSS / sub | readers' CPU | missing | out of order | checks |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, n := range order {
		for _, s := range servers[n] {
			checks := "ok"
			if len(s.failed) > 0 {
				checks = "FAILED: " + strings.Join(s.failed, "; ")
			}
			if len(s.runs) == 0 {
				fmt.Fprintf(w, "| %d | %s | 0 | | | | | | | | | | | | %d | %d | %s |\n", n, s.label, s.lost, s.order, checks)
				continue
			}
			subs := strconv.Itoa(n)
			if got := int(s.med(func(r *fanout.Result) float64 { return float64(r.Subscribers) })); got != n {
				subs = fmt.Sprintf("%d of %d", got, n)
			}
			rss := "-"
			if v := s.med(func(r *fanout.Result) float64 { return r.ServerRSSSub }); v >= 0 {
				rss = fmt.Sprintf("%.1f KiB", v)
			}
			m := s.med
			fmt.Fprintf(w, "| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %s |\n",
				subs, s.label, len(s.runs), m(func(r *fanout.Result) float64 { return float64(r.Trades) }),
				us(m(func(r *fanout.Result) float64 { return r.Latency.P50 })),
				us(m(func(r *fanout.Result) float64 { return r.Latency.P90 })),
				s.p99Range(),
				us(m(func(r *fanout.Result) float64 { return r.Latency.P999 })),
				us(m(func(r *fanout.Result) float64 { return r.Latency.Max })),
				cpu(m(func(r *fanout.Result) float64 { return r.ServerCPU })),
				count(m(func(r *fanout.Result) float64 { return r.ServerWrites })),
				count(m(func(r *fanout.Result) float64 { return r.ServerCtx })),
				rss, cpu(m(func(r *fanout.Result) float64 { return r.ReaderCPU })),
				s.lost, s.order, checks)
		}
	}
	return nil
}

// readFanout reads dir/fanout.json.
func readFanout(dir string) (*fanout.Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, "fanout.json"))
	if err != nil {
		return nil, err
	}
	var res fanout.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &res, nil
}
