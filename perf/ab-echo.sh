#!/bin/bash
# ab-echo.sh: an interleaved A/B(/C...) of ringexd builds next to the echo
# floor, with the server's costs per order. Each round runs the echo floor
# (ringex-load -echo), then every build once (the order of the builds
# reversed in even rounds, so the machine's drift hits all alike), each on
# a fresh data directory, and prints per run: the acks/s, the ack p50, p99
# and p99.9 (us) and the server's CPU (us), read+write system calls and
# context switches per order (ringex-load -pid).
#
#   ROUNDS=5 DUR=5s SYNC=off perf/ab-echo.sh /tmp/base /tmp/new
#   FLAGS='-mode max -depth 1 -conns 1 -subs 0' perf/ab-echo.sh /tmp/base /tmp/new  # unloaded
#
# Each argument is a directory holding a ringexd (a script that execs
# ringexd with more flags works too: its pid is the server's). LOAD is
# the ringex-load to use (default: bin/ringex-load); EXTRA adds ringexd
# flags to every build; ports P1-P3 must be free. A run whose checks fail
# prints ok=0 and keeps its output in $KEEP (default /tmp).
set -u
LOAD=${LOAD:-bin/ringex-load}
P1=${P1:-27551}
P2=${P2:-27552}
P3=${P3:-27553}
rounds=${ROUNDS:-3}
dur=${DUR:-5s}
sync=${SYNC:-off}
extra=${EXTRA:-}
flags=${FLAGS:--mode max -depth 64 -conns 4 -subs 0}
keep=${KEEP:-/tmp}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

waitup() {
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$P3/assets" >/dev/null && return
		sleep 0.1
	done
}

one() { # label pid
	local label=$1 pid=$2
	# shellcheck disable=SC2086
	"$LOAD" -addr "127.0.0.1:$P1" -md "127.0.0.1:$P2" -admin "127.0.0.1:$P3" $flags -duration "$dur" \
		-quiet -pid "$pid" >"$out/load.txt" 2>&1
	local rate lat srv ok
	rate=$(grep -o '[0-9.]* answers/s' "$out/load.txt" | awk '{print $1}')
	lat=$(awk '$1=="ack"{print $3, $5, $6}' "$out/load.txt")
	srv=$(grep 'server (pid' "$out/load.txt" |
		sed -E 's/.*\) ([0-9.]+) us CPU, ([0-9.]+) read.*, ([0-9.]+) context.*/\1 \2 \3/')
	ok=$(grep -c 'checks passed' "$out/load.txt")
	[ "$ok" = 1 ] || cp "$out/load.txt" "$keep/ab-echo-fail-$r-$label.txt"
	echo "$r $label acks/s=$rate p50/p99/p99.9=$lat cpu_us/syscalls/ctxsw=$srv ok=$ok"
}

for r in $(seq "$rounds"); do
	dirs=("$@")
	if ((r % 2 == 0)); then mapfile -t dirs < <(printf '%s\n' "$@" | tac); fi
	"$LOAD" -echo "127.0.0.1:$P1" -md "127.0.0.1:$P2" -admin "127.0.0.1:$P3" >"$out/echo.log" 2>&1 &
	ep=$!
	waitup
	one echo "$ep"
	kill -INT "$ep"
	wait "$ep" 2>/dev/null
	for d in "${dirs[@]}"; do
		rm -rf "$out/data"
		# shellcheck disable=SC2086
		"$d/ringexd" -data "$out/data" -sync "$sync" $extra -listen "127.0.0.1:$P1" -md-listen "127.0.0.1:$P2" \
			-admin "127.0.0.1:$P3" -log-level warn >"$out/server.log" 2>&1 &
		sp=$!
		waitup
		one "$(basename "$d")" "$sp"
		kill -TERM "$sp"
		wait "$sp"
	done
done
