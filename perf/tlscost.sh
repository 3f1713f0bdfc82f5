#!/bin/sh
# tlscost.sh measures what TLS costs ringexd: the same max-throughput
# ringex-load run against the plain listeners and against the TLS fronts of
# one ringexd (-sync off unless SYNC is set), alternated ROUNDS times, with the server's CPU
# per acked order from /proc/PID/stat, its read+write system calls per order
# (/proc/PID/io) and its context switches per order (/proc/PID/task/*/status),
# and per round the TLS run's CPU per order over the plain run's.
# Usage: perf/tlscost.sh [seconds] [rounds] [ringex-load flags...], e.g.
# "-subs 0 -check-fills=false" for order entry alone.
# SYNC=always perf/tlscost.sh ... measures under the default sync policy;
# BIN=dir takes ringexd and ringex-load from dir instead of bin/ (to compare
# two builds, alternated: run each with ROUNDS=1, in turn).
set -eu
DUR=${1:-10}
ROUNDS=${2:-2}
shift 2 2>/dev/null || shift $#
EXTRA="$*"
BIN=${BIN:-$(cd "$(dirname "$0")/../bin" && pwd)}
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$DIR/key.pem" \
	-out "$DIR/cert.pem" -days 1 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
"$BIN/ringexd" -data "$DIR/data" -sync "${SYNC:-off}" -log-level warn \
	-listen 127.0.0.1:17001 -md-listen 127.0.0.1:17002 -admin 127.0.0.1:17003 \
	-tls-listen 127.0.0.1:17443 -md-tls-listen 127.0.0.1:17444 \
	-tls-cert "$DIR/cert.pem" -tls-key "$DIR/key.pem" 2>"$DIR/server.log" &
PID=$!
sleep 2
kill -0 $PID 2>/dev/null || { echo "ringexd did not start:"; cat "$DIR/server.log"; exit 1; }
TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
sysc() { awk '/^sysc[rw]:/ { s += $2 } END { print s }' "/proc/$PID/io"; }
csw() { cat /proc/$PID/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s }'; }
echo "| run | acked | acks/s | server CPU s | server CPU us/order | syscalls/order | ctx switches/order | ack p50 us | ack p99 us |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
i=0
while [ $i -lt "$ROUNDS" ]; do
	for mode in plain tls; do
		if [ $mode = plain ]; then
			args="-addr 127.0.0.1:17001 -md 127.0.0.1:17002"
		else
			args="-addr 127.0.0.1:17443 -md 127.0.0.1:17444 -tls-ca $DIR/cert.pem"
		fi
		t0=$(ticks) s0=$(sysc) c0=$(csw)
		# shellcheck disable=SC2086
		"$BIN/ringex-load" $args -admin 127.0.0.1:17003 -mode max -duration "${DUR}s" -quiet $EXTRA \
			>"$DIR/out" 2>&1 || { echo "ringex-load failed ($mode):"; cat "$DIR/out"; echo "server log:"; tail -n 20 "$DIR/server.log"; exit 1; }
		t1=$(ticks) s1=$(sysc) c1=$(csw)
		awk -v mode=$mode -v t="$((t1 - t0))" -v tck="$TCK" -v dur="$DUR" \
			-v sc="$((s1 - s0))" -v cs="$((c1 - c0))" '
			/^sent / { acked = $4; sub(",", "", acked) }
			/^ack / { p50 = $3; p99 = $5 }
			END { cpu = t / tck; printf "| %s | %d | %.0f | %.2f | %.2f | %.3f | %.3f | %s | %s |\n",
				mode, acked, acked / dur, cpu, cpu * 1e6 / acked, sc / acked, cs / acked, p50, p99 }' "$DIR/out" |
			tee -a "$DIR/rows"
	done
	# The round's TLS cost: its CPU per order over the plain run's.
	tail -n 2 "$DIR/rows" | awk -F'|' '{ us[NR] = $6 } END { printf "TLS/plain server CPU per order: %.2f\n", us[2] / us[1] }'
	i=$((i + 1))
done
