#!/bin/bash
# md-cpus-ab.sh: the order-entry ack p99 with 1,000 subscribers against none,
# ringexd with and without -md-cpus (docs/performance-notifier.md, "Cores for
# the order path"). The load generator and its readers run confined to the
# fan-out's CPU at nice 19, the nearest a 2-core machine comes to subscribers
# on other machines; read the server's own ack p99 ("server ack p99" lines).
#
#   RINGEXD=bin/ringexd LOAD=bin/ringex-load ROUNDS=3 N=1000 flock /tmp/ringex-bench.lock perf/md-cpus-ab.sh
#
# With PROBE=1 each run also sends an independent order stream from a second
# ringex-load on CPU 0 during the first none phase and the first subs phase
# (mix phases of 10 s then) and prints its ack percentiles.
set -euo pipefail
RINGEXD=${RINGEXD:-bin/ringexd} LOAD=${LOAD:-bin/ringex-load}
ROUNDS=${ROUNDS:-3} N=${N:-1000} MDCPU=${MDCPU:-1} OTHERCPU=${OTHERCPU:-0} PROBE=${PROBE:-}
OUT=$(mktemp -d /tmp/md-cpus-ab.XXXX)
A="-addr 127.0.0.1:27661 -md 127.0.0.1:27662 -admin 127.0.0.1:27663"

run() { # label, ringexd flags
	local label=$1 flags=$2 d pid lp dur=3s
	[ -n "$PROBE" ] && dur=10s
	d=$(mktemp -d "$OUT/data.XXXX")
	"$RINGEXD" -data "$d" -listen 127.0.0.1:27661 -md-listen 127.0.0.1:27662 -admin 127.0.0.1:27663 $flags >"$OUT/srv-$label.log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do grep -q "ringexd running" "$OUT/srv-$label.log" && break; sleep 0.1; done
	taskset -c "$MDCPU" nice -n 19 "$LOAD" $A -fanout-mix "$N" -trade-rate 1000 -churn 0 -duration $dur -rounds 2 -drain 120s -quiet -pid $pid >"$OUT/mix-$label.txt" 2>&1 &
	lp=$!
	if [ -n "$PROBE" ]; then
		local P="taskset -c $OTHERCPU $LOAD $A -mode open -rate 1000 -conns 1 -subs 0 -duration 5s -drain 5s -quiet -check-fills=false -users carol:carol-demo-key -assets ETH-USD"
		sleep 2.5; $P >"$OUT/probe-none-$label.txt" 2>&1
		sleep 8; $P >"$OUT/probe-subs-$label.txt" 2>&1
	fi
	wait $lp || true
	kill $pid; wait $pid 2>/dev/null || true
	rm -rf "$d"
	echo "== $label: ringexd $flags"
	grep -E "^(none|subs)" "$OUT/mix-$label.txt" | awk -F'|' '{print $1 "| ack us p50/p99/p99.9/max srv p50/p99:" $4 "| cores, runq, Go sched p99 us:" $6}'
	grep -E "server ack p99|checks" "$OUT/mix-$label.txt" || true
	if [ -n "$PROBE" ]; then
		for p in none subs; do echo "probe during $p:"; grep -E "^ack " "$OUT/probe-$p-$label.txt" || true; done
	fi
}

for r in $(seq "$ROUNDS"); do
	run "default$r" ""
	run "md-cpus$r" "-md-cpus $MDCPU"
done
echo "outputs in $OUT"
