#!/usr/bin/env bash
# make bench: the micro-benchmarks (engine, ring with its channel twins,
# journal, wire codec), then end-to-end ringex-load runs, each against a
# fresh server on free loopback ports: ringexd on a temporary data
# directory, or the echo floor (ringex-load -echo: the order-entry protocol
# with nothing behind it). The floor comparison runs the unloaded round
# trip (1 session, 1 in flight) and max throughput (4 sessions x 64 in
# flight) against the echo, ringexd -sync off and ringexd -sync always,
# interleaved, BENCH_REPEAT times, and reports medians, ranges and the
# ratios ringexd / echo. Every run reports the server's and the
# generator's CPU, read+write system calls and context switches per order
# (from /proc). Writes docs/performance.md (date, machine, commands,
# tables) and docs/bench/<run>/ (.hgrm distributions, latency.png,
# summary.json). About 12 minutes on a 2-core machine. Exits 1 if a
# server does not come up or a run fails its checks (after writing what it
# has).
#
# Knobs (environment): BENCH_DURATION (10s), BENCH_FLOOR_DURATION (5s),
# BENCH_REPEAT (3), BENCH_BENCHTIME (300ms), BENCH_RATES_OFF and
# BENCH_RATES_ALWAYS (orders/s; empty: none), BENCH_SUBS (4), BENCH_FANOUT_SUBS (500),
# BENCH_MICRO (set to 0 to skip the micro-benchmarks), BENCH_OUT
# (docs/performance.md), BENCH_RESULTS (docs/bench).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-10s}
floor_duration=${BENCH_FLOOR_DURATION:-5s}
repeat=${BENCH_REPEAT:-3}
benchtime=${BENCH_BENCHTIME:-300ms}
rates_off=${BENCH_RATES_OFF-10000 50000 100000}
rates_always=${BENCH_RATES_ALWAYS-10000 50000 100000}
subs=${BENCH_SUBS:-4}
fanout_subs=${BENCH_FANOUT_SUBS:-500}
out=${BENCH_OUT:-docs/performance.md}
results=${BENCH_RESULTS:-docs/bench}
micro_pkgs="./engine ./ring ./journal ./netio/wire"

tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o bin/ ./cmd/ringexd ./cmd/ringex-load ./perf/internal/benchtool

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/ *$//')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain 2>/dev/null | grep -v '^??' || true) ]]; then
	commit="$commit (with uncommitted changes)"
fi

# Micro-benchmarks.
micro_cmd="go test -run '^\$' -bench . -benchmem -benchtime=$benchtime $micro_pkgs"
: >"$tmp/micro.txt"
if [[ ${BENCH_MICRO:-1} != 0 ]]; then
	echo "== $micro_cmd"
	# shellcheck disable=SC2086 # the package list splits on purpose
	go test -run '^$' -bench . -benchmem -benchtime="$benchtime" $micro_pkgs 2>&1 | tee "$tmp/micro.txt"
fi

# End to end.
failed=0
start_server() { # sync policy, or echo
	read -r addr md admin <<<"$(bin/benchtool ports 3)"
	rm -rf "$tmp/data"
	if [[ $1 == echo ]]; then
		bin/ringex-load -echo "$addr" -md "$md" -admin "$admin" >"$tmp/server.log" 2>&1 &
	else
		bin/ringexd -data "$tmp/data" -sync "$1" -listen "$addr" -md-listen "$md" -admin "$admin" \
			-log-level warn >"$tmp/server.log" 2>&1 &
	fi
	server_pid=$!
	if ! bin/benchtool wait "http://$admin/assets" 20s; then
		echo "bench: server $1 did not come up; its log:" >&2
		cat "$tmp/server.log" >&2
		exit 1
	fi
}

stop_server() {
	local status=0
	kill -TERM "$server_pid" 2>/dev/null || true
	wait "$server_pid" || status=$?
	server_pid=
	if [[ $status != 0 ]]; then
		echo "bench: the server exited with status $status on SIGTERM; its log:" >&2
		tail -20 "$tmp/server.log" >&2
		failed=1
	fi
}

server_cmd() { # sync policy, or echo
	if [[ $1 == echo ]]; then
		echo "ringex-load -echo"
	else
		echo "ringexd -sync $1"
	fi
}

# load DIR SERVER DURATION FLAGS...: one ringex-load run against a fresh
# server; sets status.
load() {
	local dir=$1 server=$2 dur=$3
	shift 3
	local flags="$* -duration $dur -quiet -out $dir -json"
	rm -rf "$dir"
	echo
	echo "== $(server_cmd "$server"); ringex-load $flags"
	start_server "$server"
	status=0
	# shellcheck disable=SC2086
	bin/ringex-load -addr "$addr" -md "$md" -admin "$admin" -pid "$server_pid" $flags | tee "$tmp/last.txt" || status=$?
	stop_server
	if [[ $status != 0 ]]; then
		failed=1
	fi
	last_flags=$flags
}

run_load() { # label server ringex-load-flags...
	local label=$1 server=$2
	shift 2
	load "$results/$label" "$server" "$duration" "$@"
	printf '%s\t%s\t%s\t%s\n' "$label" "$server" "$status" "$results/$label" >>"$tmp/manifest"
	printf '| %s | `%s` | `ringex-load %s` |\n' "$label" "$(server_cmd "$server")" "$last_flags" >>"$tmp/commands"
}

mkdir -p "$results"

# The floor comparison: each configuration against the echo and ringexd
# with each sync policy, interleaved so that a change in the machine's
# load hits all three alike, BENCH_REPEAT times. The last repetition's
# files are kept in $results/floor-<configuration>-<server>.
floor_cfgs=("rtt|-mode max -depth 1 -conns 1 -subs 0" "max|-mode max -depth 64 -conns 4 -subs 0")
for cfg in "${floor_cfgs[@]}"; do
	name=${cfg%%|*} flags=${cfg#*|}
	for ((i = 1; i <= repeat; i++)); do
		for server in echo off always; do
			# shellcheck disable=SC2086
			load "$tmp/floor/$name-$server-$i" "$server" "$floor_duration" $flags
			printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$server" "$i" "$status" "$tmp/floor/$name-$server-$i" >>"$tmp/floor-manifest"
			if ((i == repeat)); then
				rm -rf "$results/floor-$name-$server"
				cp -r "$tmp/floor/$name-$server-$i" "$results/floor-$name-$server"
				printf '| %s | `%s` | `ringex-load %s` |\n' "$name" "$(server_cmd "$server")" "$flags -duration $floor_duration -quiet -out $results/floor-$name-$server -json" >>"$tmp/floor-commands"
			fi
		done
	done
done

# Open loop at fixed rates, against the echo too (its latency at the same
# rate is the floor of ringexd's), then the fan-out run.
for rate in $rates_off; do
	run_load "echo-$rate" echo -rate "$rate" -conns 4 -subs "$subs"
	run_load "off-$rate" off -rate "$rate" -conns 4 -subs "$subs"
done
for rate in $rates_always; do
	run_load "always-$rate" always -rate "$rate" -conns 4 -subs "$subs"
done
run_load off-max-subs off -mode max -depth 64 -conns 4 -subs "$subs"
run_load always-max-subs always -mode max -depth 256 -conns 4 -subs "$subs"
if [[ $fanout_subs != 0 ]]; then
	run_load "fanout-$fanout_subs" off -rate 2500 -conns 2 -subs "$fanout_subs"
fi

# The report: the part of $out between the markers below is replaced (the
# summary written by hand above them is kept); a file without the markers
# is written whole.
begin='<!-- make bench: begin -->'
end='<!-- make bench: end -->'
{
	echo "$begin"
	echo
	echo "## make bench results"
	echo
	echo "Written by \`make bench\` (\`perf/bench.sh\`): run it again to refresh this section. How to"
	echo "read the figures, and how to run ringex-load by hand: [bench.md](bench.md)."
	echo
	echo "- date: $started"
	echo "- machine: $(nproc) CPUs, $cpu, Linux $(uname -r), $(go version | cut -d' ' -f3)"
	echo "- load average when the run started: $loadavg (the machine may be shared)"
	echo "- commit: $commit"
	echo
	echo "### ringexd against the echo floor"
	echo
	echo "Each configuration against the echo floor (\`ringex-load -echo\`: every request acked at once,"
	echo "nothing behind it) and ringexd with each sync policy, interleaved, $repeat times, $floor_duration each:"
	echo "median (range), and in bold the ratio of the median to the echo's. rtt: 1 session, 1 order"
	echo "in flight (the unloaded round trip); max: 4 sessions x 64 in flight (max throughput). CPU,"
	echo "system calls (read + write) and context switches are per answered order, from /proc"
	echo "(how to read them: [bench.md](bench.md#the-floor-and-the-ratios))."
	echo
	bin/benchtool compare "$tmp/floor-manifest"
	echo
	echo "| configuration | server | load (last repetition) |"
	echo "|---|---|---|"
	cat "$tmp/floor-commands"
	echo
	echo "### End to end"
	echo
	echo "ringexd and ringex-load on the same machine over loopback, a fresh server and data directory"
	echo "per run, each sending for $duration. Open-loop runs send at a fixed rate and count latency from"
	echo "each order's intended send time (coordinated-omission correction); max runs keep -depth"
	echo "orders in flight per session. Ack: the order-entry ack (journaled). Fill: an order that traded"
	echo "on arrival, to its first fill notification on the user's private feed. Trade delivery: the"
	echo "taker's gateway receive time to the public trade's arrival at each subscriber. Send lag: the"
	echo "generator's own lateness, included in the ack and fill figures."
	echo
	bin/benchtool table "$tmp/manifest"
	echo
	echo "Commands (addresses omitted: each run gets free loopback ports and a temporary data directory):"
	echo
	echo "| run | server | load |"
	echo "|---|---|---|"
	cat "$tmp/commands"
	echo
	echo "Latency by percentile of the 50,000 orders/s runs (more in \`$results/<run>/latency.png\`,"
	echo "with the \`.hgrm\` distributions):"
	echo
	for label in off-50000 always-50000; do
		if [[ -f $results/$label/latency.png ]]; then
			echo "![$label]($(realpath --relative-to="$(dirname "$out")" "$results/$label/latency.png"))"
			echo
		fi
	done
	if [[ -s $tmp/micro.txt ]]; then
		echo "### Micro-benchmarks"
		echo
		echo '```'
		echo "\$ $micro_cmd"
		grep -E '^(Benchmark|ok|FAIL|pkg:|cpu:)' "$tmp/micro.txt"
		echo '```'
	fi
	echo "$end"
} >"$tmp/report.md"
if [[ -f $out ]] && grep -qxF "$begin" "$out" && grep -qxF "$end" "$out"; then
	{
		sed "/^$begin\$/,\$d" "$out"
		cat "$tmp/report.md"
		sed "1,/^$end\$/d" "$out"
	} >"$tmp/spliced.md"
	mv "$tmp/spliced.md" "$out"
else
	mv "$tmp/report.md" "$out"
fi
echo
echo "bench: wrote $out and $results/"
if [[ $failed != 0 ]]; then
	echo "bench: FAILED: a run failed its checks or a server did not stop cleanly (see above)" >&2
	exit 1
fi
