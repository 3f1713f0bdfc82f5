#!/bin/bash
# journal-bytes.sh DIR...: per build (a directory holding ringexd and
# ringex-load), a fixed-length run (open loop, RATE orders/s for DUR, no
# subscribers) on a fresh data directory; prints the journal's logged and
# flushed bytes per order (/metrics), the server's wchar per order
# (/proc/PID/io, socket writes included) and the data directory's size
# after a clean stop. KEEPDATA=dir keeps each data directory there.
#
#   RATE=100000 DUR=5s flock /tmp/ringex-bench.lock perf/journal-bytes.sh /tmp/base /tmp/new
set -u
RATE=${RATE:-100000}; DUR=${DUR:-5s}; SYNC=${SYNC:-off}
P1=${P1:-27561}; P2=${P2:-27562}; P3=${P3:-27563}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in "$@"; do
	data=$(mktemp -d)
	"$d/ringexd" -data "$data/d" -sync "$SYNC" -listen 127.0.0.1:$P1 -md-listen 127.0.0.1:$P2 -admin 127.0.0.1:$P3 -log-level warn >"$tmp/server.log" 2>&1 &
	sp=$!
	for _ in $(seq 100); do curl -sf http://127.0.0.1:$P3/assets >/dev/null && break; sleep 0.1; done
	w0=$(awk '$1=="wchar:"{print $2}' /proc/$sp/io)
	"$d/ringex-load" -addr 127.0.0.1:$P1 -md 127.0.0.1:$P2 -admin 127.0.0.1:$P3 -mode open -rate "$RATE" -duration "$DUR" -subs 0 -quiet >"$tmp/load.txt" 2>&1
	sleep 1
	m=$(curl -sf http://127.0.0.1:$P3/metrics)
	w1=$(awk '$1=="wchar:"{print $2}' /proc/$sp/io)
	logged=$(echo "$m" | awk '$1=="ringex_journal_logged_bytes_total"{print $2}')
	flushed=$(echo "$m" | awk '$1=="ringex_journal_flushed_bytes_total"{print $2}')
	orders=$(echo "$m" | awk '/^ringex_matcher_commands_total/{s+=$2} END{print s}')
	kill -TERM $sp; wait $sp
	size=$(du -sb "$data/d" | awk '{print $1}')
	awk -v l="$logged" -v f="$flushed" -v o="$orders" -v w=$((w1-w0)) -v s="$size" -v n="$(basename $d)" \
		'BEGIN{printf "%s orders=%d logged/order=%.1f flushed/order=%.1f wchar/order=%.1f datadir=%d (%.1f/order)\n", n, o, l/o, f/o, w/o, s, s/o}'
	grep -c 'checks passed' "$tmp/load.txt" | sed 's/^/checks_passed=/'
	[ -n "${KEEPDATA:-}" ] && cp -r "$data/d" "$KEEPDATA/$(basename $d)"
	rm -rf "$data"
done
