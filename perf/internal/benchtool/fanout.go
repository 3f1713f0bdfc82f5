package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/ringex/ringex/perf/fanout"
)

// fanoutRun is one line of a fan-out manifest: the subscribers, the
// server's label ("ringexd", "naive", "coalesce 10ms"), its kind
// (ringexd, naive or coalesce), ringex-load's exit status and the
// directory holding fanout.json.
type fanoutRun struct {
	subs          int
	label, kind   string
	status, dir   string
	res           *fanout.Result
	readErr       error
	floor, coales bool
}

// fanoutTables prints the fan-out comparison: per number of subscribers,
// ringexd's latency next to the naive floor's and the best coalescing
// floor's, with the ratios; then every run.
func fanoutTables(r io.Reader, w io.Writer) error {
	lines, err := readManifest(r, 5)
	if err != nil {
		return err
	}
	bySubs := map[int][]*fanoutRun{}
	var order []int
	for _, l := range lines {
		n, err := strconv.Atoi(l[0])
		if err != nil {
			return fmt.Errorf("fan-out manifest: subscribers %q", l[0])
		}
		fr := &fanoutRun{subs: n, label: l[1], kind: l[2], status: l[3], dir: l[4]}
		fr.floor = fr.kind == "naive" || fr.kind == "coalesce"
		fr.coales = fr.kind == "coalesce"
		fr.res, fr.readErr = readFanout(fr.dir)
		if _, ok := bySubs[n]; !ok {
			order = append(order, n)
		}
		bySubs[n] = append(bySubs[n], fr)
	}
	sort.Ints(order)

	fmt.Fprintln(w, "| subscribers | ringexd p50 / p99 / p99.9 / max | naive floor p99 | best coalescing floor p99 (window) | ringexd p99 / best floor p99 | ringexd CPU / delivery | best floor's CPU / delivery | CPU ratio | ringexd RSS / idle subscriber | missing, out of order (every run) |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, n := range order {
		var rx, naive, coal, best *fanoutRun
		var lost, reordered uint64
		failed := 0
		for _, fr := range bySubs[n] {
			if fr.res == nil {
				failed++
				continue
			}
			v := fr.res.Verdict
			lost += v.Missing + v.Gaps
			reordered += v.OutOfOrder
			if !fr.res.OK() || fr.status != "0" {
				failed++
			}
			p99 := fr.res.Latency.P99
			switch {
			case fr.kind == "ringexd":
				rx = fr
			case fr.kind == "naive" && (naive == nil || p99 < naive.res.Latency.P99):
				naive = fr
			case fr.coales && (coal == nil || p99 < coal.res.Latency.P99):
				coal = fr
			}
			if fr.floor && (best == nil || p99 < best.res.Latency.P99) {
				best = fr
			}
		}
		cell := func(fr *fanoutRun, withLabel bool) string {
			if fr == nil {
				return "-"
			}
			s := us(fr.res.Latency.P99)
			if withLabel {
				s += " (" + fr.label + ")"
			}
			return s
		}
		rxLat, ratio, rxCPU, bestCPU, cpuRatio, rss := "-", "-", "-", "-", "-", "-"
		if rx != nil {
			l := rx.res.Latency
			rxLat = fmt.Sprintf("%s / %s / %s / %s", us(l.P50), us(l.P99), us(l.P999), us(l.Max))
			rxCPU = cpu(rx.res.ServerCPU)
			if rx.res.ServerRSSSub >= 0 {
				rss = fmt.Sprintf("%.1f KiB", rx.res.ServerRSSSub)
			}
		}
		if best != nil {
			bestCPU = cpu(best.res.ServerCPU) + " (" + best.label + ")"
		}
		if rx != nil && best != nil && best.res.Latency.P99 > 0 {
			ratio = fmt.Sprintf("**%.2fx**", rx.res.Latency.P99/best.res.Latency.P99)
			if rx.res.ServerCPU > 0 && best.res.ServerCPU > 0 {
				cpuRatio = fmt.Sprintf("**%.2fx**", rx.res.ServerCPU/best.res.ServerCPU)
			}
		}
		checks := fmt.Sprintf("%d, %d", lost, reordered)
		if failed > 0 {
			checks += fmt.Sprintf(" (%d runs FAILED)", failed)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			n, rxLat, cell(naive, false), cell(coal, true), ratio, rxCPU, bestCPU, cpuRatio, rss, checks)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every run (latency from the trade's time to its arrival; costs per delivery, one trade to one subscriber; RSS per idle subscribed subscriber):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| subscribers | server | trades | p50 | p90 | p99 | p99.9 | max | server CPU | writes | ctx sw | RSS / sub | readers' CPU | missing | out of order | checks |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, n := range order {
		for _, fr := range bySubs[n] {
			if fr.res == nil {
				fmt.Fprintf(w, "| %d | %s | | | | | | | | | | | | | | FAILED: no result (exit %s) %v |\n", n, fr.label, fr.status, fr.readErr)
				continue
			}
			r := fr.res
			l := r.Latency
			checks := "ok"
			if !r.OK() || fr.status != "0" {
				checks = "FAILED"
				if len(r.Errors) > 0 {
					checks += ": " + r.Errors[0]
				}
			}
			subs := strconv.Itoa(r.Subscribers)
			if r.Subscribers != r.Asked {
				subs += " of " + strconv.Itoa(r.Asked)
			}
			rss := "-"
			if r.ServerRSSSub >= 0 {
				rss = fmt.Sprintf("%.1f KiB", r.ServerRSSSub)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %s |\n",
				subs, fr.label, r.Trades, us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max),
				cpu(r.ServerCPU), count(r.ServerWrites), count(r.ServerCtx), rss, cpu(r.ReaderCPU),
				r.Verdict.Missing+r.Verdict.Gaps, r.Verdict.OutOfOrder, checks)
		}
	}
	return nil
}

// readFanout reads dir/fanout.json; a missing file is a nil result.
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
