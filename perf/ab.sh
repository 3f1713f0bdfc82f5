#!/bin/bash
# ab.sh: an interleaved A/B of two ringexd builds with one ringex-load,
# the two builds alternating in each round so that the machine's drift hits
# both alike. Per run it prints the acked orders, the rate, the ack p50 and
# p99 (ack-from-send, us) and ringexd's CPU per acked order (utime+stime
# from /proc/PID/stat).
#
#   A=/tmp/base B=/tmp/new ROUNDS=5 DUR=6s perf/ab.sh
#
# A and B are directories holding a ringexd each; LOAD is the ringex-load
# to use (default: bin/ringex-load). Ports P1-P3 must be free.
set -u
A=${A:?directory of build A}
B=${B:?directory of build B}
LOAD=${LOAD:-bin/ringex-load}
P1=${P1:-27431}
P2=${P2:-27432}
P3=${P3:-27433}
rounds=${ROUNDS:-3}
dur=${DUR:-5s}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # dir label ringex-load-flags...
	local dir=$1 label=$2
	shift 2
	if ss -ltn | grep -q ":$P1 "; then
		echo "ab: port $P1 is in use" >&2
		exit 1
	fi
	rm -rf "$out/data"
	"$dir/ringexd" -data "$out/data" -sync off -listen "127.0.0.1:$P1" -md-listen "127.0.0.1:$P2" \
		-admin "127.0.0.1:$P3" -log-level warn >"$out/server.log" 2>&1 &
	local pid=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$P3/assets" >/dev/null && break
		sleep 0.1
	done
	local t0 t1
	t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
	"$LOAD" -addr "127.0.0.1:$P1" -md "127.0.0.1:$P2" -admin "127.0.0.1:$P3" -duration "$dur" -quiet "$@" >"$out/load.txt" 2>&1
	t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
	kill -TERM "$pid"
	wait "$pid"
	local acked rate p50 p99
	acked=$(grep -o 'acked [0-9]*' "$out/load.txt" | awk '{print $2}')
	rate=$(grep -o '[0-9.]* answers/s' "$out/load.txt" | awk '{print $1}')
	p50=$(awk '$1=="ack-from-send"{print $3}' "$out/load.txt")
	p99=$(awk '$1=="ack-from-send"{print $5}' "$out/load.txt")
	# Clock ticks are 10 ms: CPU us per order = ticks * 10000 / orders.
	awk -v r="$r" -v d="$dir" -v l="$label" -v a="$acked" -v c=$((t1 - t0)) -v rate="$rate" -v p50="$p50" -v p99="$p99" \
		'BEGIN { printf "%s %s %s acked=%s rate=%s p50=%s p99=%s cpu_us_per_order=%.2f\n", r, d, l, a, rate, p50, p99, (a > 0 ? c * 10000 / a : 0) }'
}

for r in $(seq "$rounds"); do
	if ((r % 2)); then order="$A $B"; else order="$B $A"; fi
	for d in $order; do run "$d" rtt -mode max -depth 1 -conns 1 -subs 0; done
	for d in $order; do run "$d" max -mode max -depth 64 -conns 4 -subs 2; done
done
