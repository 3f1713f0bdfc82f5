#!/bin/bash
# ab-loops-mix.sh: an interleaved A/B of ringexd's -loops / -md-loops under
# the fan-out mix (docs/performance.md, "-loops and -md-loops on a 2-core
# machine"). Each round runs every setting once (the order reversed in even
# rounds) on a fresh data directory, ringex-load -fanout-mix against it,
# and prints the run's ack p99 line, and per "subs" phase the trade
# delivery p50/p99/p99.9/max (ms) and the server's us and writes per
# delivery. Each setting is LABEL:LOOPS:MDLOOPS.
#
#   BIN=/tmp/bin ROUNDS=3 flock /tmp/ringex-bench.lock perf/ab-loops-mix.sh o1m1:1:1 o1m2:1:2
#
# BIN holds ringexd and ringex-load; the default ports 7001-7003 must be
# free. Each run's output stays in $KEEP/mix-ROUND-LABEL.
set -u
bin=${BIN:-bin}
rounds=${ROUNDS:-3}
subs=${SUBS:-1000}
keep=${KEEP:-/tmp}
for r in $(seq "$rounds"); do
	cfgs=("$@")
	if ((r % 2 == 0)); then mapfile -t cfgs < <(printf '%s\n' "$@" | tac); fi
	for c in "${cfgs[@]}"; do
		IFS=: read -r label oe md <<<"$c"
		d=$(mktemp -d)
		o=$keep/mix-$r-$label
		mkdir -p "$o"
		"$bin/ringexd" -data "$d" -loops "$oe" -md-loops "$md" -admin 127.0.0.1:7003 -log-level warn >"$o/server.log" 2>&1 &
		sp=$!
		for _ in $(seq 100); do
			curl -sf http://127.0.0.1:7003/assets >/dev/null && break
			sleep 0.1
		done
		"$bin/ringex-load" -fanout-mix "$subs" -trade-rate 1000 -duration 3s -rounds 1 -churn 0 \
			-pid "$sp" >"$o/load.txt" 2>&1
		kill -TERM "$sp"
		wait "$sp"
		rm -rf "$d"
		echo "$r $label $(grep '^ack p99:' "$o/load.txt" | sed 's/, churn.*//')" \
			"$(awk -F'|' '$1 ~ /^subs/ {split($5, s, " "); printf "| trade ms %s, us/deliv %s, writes/deliv %s ", $2, s[1], s[2]}' "$o/load.txt")" \
			"ok=$(grep -c 'checks passed' "$o/load.txt")"
	done
done
