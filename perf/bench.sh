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
# summary.json). About 13 minutes on a 2-core machine. Exits 1 if a
# server does not come up or a run fails its checks (after writing what it
# has).
#
# Knobs (environment): BENCH_DURATION (10s), BENCH_FLOOR_DURATION (5s),
# BENCH_REPEAT (3), BENCH_BENCHTIME (300ms), BENCH_RATES_OFF and
# BENCH_RATES_ALWAYS (orders/s; empty: none), BENCH_SUBS (4), BENCH_FANOUT_SUBS (500),
# BENCH_MICRO (set to 0 to skip the micro-benchmarks), BENCH_OUT
# (docs/performance.md), BENCH_RESULTS (docs/bench). The market-data
# fan-out comparison (ringexd against the fan-out floors, naive and
# coalescing, each in its own process; docs/performance-notifier.md):
# BENCH_FANOUT_N (100 1000 2000; empty: none), BENCH_FANOUT_10K=1 (adds
# 10,000 subscribers: needs a descriptor hard limit of about 10,100 per
# process), BENCH_FANOUT_WINDOWS (2ms 5ms 10ms 20ms), BENCH_FANOUT_DURATION
# (8s), BENCH_FANOUT_RATE (1000 trades/s), BENCH_FANOUT_REPEAT (1: each
# server's runs, interleaved; the tables give medians), BENCH_FANOUT_ONLY=1 (only the
# fan-out comparison; the report's other sections are left as they were).
# The mixed fan-out runs (ringex-load -fanout-mix: subscribers of every
# kind, trades on every asset, phases with no subscribers, with them and
# with churn, interleaved in one run against ringexd with make run's
# configuration; docs/performance-notifier.md): BENCH_FANOUT_MIX (1000:
# the numbers of subscribers, one run each; empty: none; 10,000 needs a
# descriptor hard limit of about 23,000 for ringexd, see README),
# BENCH_FANOUT_MIX_RATE (1000 trades/s), BENCH_FANOUT_MIX_CHURN (1000
# connects + subscribes + disconnects a second), BENCH_FANOUT_MIX_CHURN_FOR
# (10s per churn phase; make soak runs 30 s), BENCH_FANOUT_MIX_DURATION (5s
# per other phase), BENCH_FANOUT_MIX_ROUNDS (2).
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
fanout_ns=${BENCH_FANOUT_N-100 1000 2000}
if [[ ${BENCH_FANOUT_10K:-0} == 1 ]]; then
	fanout_ns="$fanout_ns 10000"
fi
fanout_windows=${BENCH_FANOUT_WINDOWS-2ms 5ms 10ms 20ms}
fanout_duration=${BENCH_FANOUT_DURATION:-8s}
fanout_rate=${BENCH_FANOUT_RATE:-1000}
fanout_repeat=${BENCH_FANOUT_REPEAT:-1}
fanout_only=${BENCH_FANOUT_ONLY:-0}
mix_ns=${BENCH_FANOUT_MIX-1000}
mix_rate=${BENCH_FANOUT_MIX_RATE:-1000}
mix_churn=${BENCH_FANOUT_MIX_CHURN:-1000}
mix_churn_for=${BENCH_FANOUT_MIX_CHURN_FOR:-10s}
mix_duration=${BENCH_FANOUT_MIX_DURATION:-5s}
mix_rounds=${BENCH_FANOUT_MIX_ROUNDS:-2}
out=${BENCH_OUT:-docs/performance.md}
notifier_out=${BENCH_NOTIFIER_OUT:-docs/performance-notifier.md}
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
if [[ $fanout_only == 1 ]]; then
	export BENCH_MICRO=0
fi
micro_cmd="go test -run '^\$' -bench . -benchmem -benchtime=$benchtime $micro_pkgs"
: >"$tmp/micro.txt"
if [[ ${BENCH_MICRO:-1} != 0 ]]; then
	echo "== $micro_cmd"
	# shellcheck disable=SC2086 # the package list splits on purpose
	go test -run '^$' -bench . -benchmem -benchtime="$benchtime" $micro_pkgs 2>&1 | tee "$tmp/micro.txt"
fi

# End to end.
failed=0
start_server() { # sync policy, default (make run's flags), echo, or floor-naive / floor-coalesce-WINDOW
	read -r addr md admin <<<"$(bin/benchtool ports 3)"
	rm -rf "$tmp/data"
	if [[ $1 == floor-naive ]]; then
		bin/ringex-load -fanout-floor "$md" -admin "$admin" -floor-mode naive >"$tmp/server.log" 2>&1 &
	elif [[ $1 == floor-coalesce-* ]]; then
		bin/ringex-load -fanout-floor "$md" -admin "$admin" -floor-mode coalesce -floor-window "${1#floor-coalesce-}" >"$tmp/server.log" 2>&1 &
	elif [[ $1 == echo ]]; then
		bin/ringex-load -echo "$addr" -md "$md" -admin "$admin" >"$tmp/server.log" 2>&1 &
	elif [[ $1 == default ]]; then
		bin/ringexd -data "$tmp/data" -listen "$addr" -md-listen "$md" -admin "$admin" \
			-log-level warn >"$tmp/server.log" 2>&1 &
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

server_cmd() { # sync policy, echo, or floor-naive / floor-coalesce-WINDOW
	if [[ $1 == floor-naive ]]; then
		echo "ringex-load -fanout-floor -floor-mode naive"
	elif [[ $1 == floor-coalesce-* ]]; then
		echo "ringex-load -fanout-floor -floor-mode coalesce -floor-window ${1#floor-coalesce-}"
	elif [[ $1 == echo ]]; then
		echo "ringex-load -echo"
	elif [[ $1 == default ]]; then
		echo "ringexd"
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
floor_cfgs=("rtt|-mode max -depth 1 -conns 1 -subs 0" "max|-mode max -depth 64 -conns 4 -subs 0"
	"deep|-mode max -depth 256 -conns 8 -subs 0")
if [[ $fanout_only == 1 ]]; then
	floor_cfgs=() rates_off= rates_always= fanout_subs=0
fi
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
if [[ $fanout_only != 1 ]]; then
	run_load off-max-subs off -mode max -depth 64 -conns 4 -subs "$subs"
	run_load always-max-subs always -mode max -depth 256 -conns 4 -subs "$subs"
fi
if [[ $fanout_subs != 0 ]]; then
	run_load "fanout-$fanout_subs" off -rate 2500 -conns 2 -subs "$fanout_subs"
fi

# Market-data fan-out: for each N, ringexd (trades made by crossing orders
# through order entry) and the fan-out floors (ringex-load -fanout-floor,
# each in its own process: naive, and coalescing with each window),
# interleaved, BENCH_FANOUT_REPEAT times, each with N subscribers of the
# trades of BTC-USD at the same pace against a fresh server. The last
# repetition's fanout.json goes to $results/fanout-N-SERVER/.
# fanout_load N SERVER KIND LABEL REPETITION: one run.
fanout_load() {
	local n=$1 server=$2 kind=$3 label=$4 rep=$5
	local dir=$tmp/fanout/$n-$server-$rep
	local flags="-fanout $n -trade-rate $fanout_rate -duration $fanout_duration -quiet -json"
	if [[ $kind != ringexd ]]; then
		flags="$flags -fanout-target floor"
	fi
	echo
	echo "== $(server_cmd "$server"); ringex-load $flags -out $dir -label '$label'"
	start_server "$server"
	status=0
	# shellcheck disable=SC2086
	bin/ringex-load -addr "$addr" -md "$md" -admin "$admin" -pid "$server_pid" $flags -out "$dir" -label "$label" || status=$?
	stop_server
	if [[ $status != 0 ]]; then
		failed=1
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$label" "$kind" "$rep" "$status" "$dir" >>"$tmp/fanout-manifest"
	if ((rep == fanout_repeat)); then
		rm -rf "$results/fanout-$n-$server"
		if [[ -d $dir ]]; then
			cp -r "$dir" "$results/fanout-$n-$server"
		fi
		if [[ $n == "${fanout_ns%% *}" ]]; then
			printf '| %s | `%s` | `ringex-load %s -label '"'%s'"'` |\n' "$label" "$(server_cmd "$server")" "$flags" "$label" >>"$tmp/fanout-commands"
		fi
	fi
}
: >"$tmp/fanout-manifest"
for n in $fanout_ns; do
	for ((i = 1; i <= fanout_repeat; i++)); do
		fanout_load "$n" off ringexd ringexd "$i"
		fanout_load "$n" floor-naive naive naive "$i"
		for win in $fanout_windows; do
			fanout_load "$n" "floor-coalesce-$win" coalesce "coalesce $win" "$i"
		done
	done
done

# Mixed fan-out: for each number of subscribers, one ringex-load
# -fanout-mix run against ringexd with make run's configuration; the run
# interleaves its own phases (no subscribers, subscribers, churn).
: >"$tmp/mix.txt"
for n in $mix_ns; do
	flags="-fanout-mix $n -trade-rate $mix_rate -churn $mix_churn -churn-for $mix_churn_for -churn-workers 512 -duration $mix_duration -rounds $mix_rounds -drain 120s -quiet -json"
	dir=$results/fanout-mix-$n
	echo
	echo "== ringexd; ringex-load $flags -out $dir"
	start_server default
	status=0
	# shellcheck disable=SC2086
	bin/ringex-load -addr "$addr" -md "$md" -admin "$admin" -pid "$server_pid" $flags -out "$dir" >"$tmp/mix-run.txt" 2>&1 || status=$?
	cat "$tmp/mix-run.txt"
	stop_server
	if [[ $status != 0 ]]; then
		failed=1
	fi
	{
		echo "\$ ringexd & ringex-load $flags"
		cat "$tmp/mix-run.txt"
		echo
	} >>"$tmp/mix.txt"
done

# The report: the part of $out between the markers below is replaced (the
# summary written by hand above them is kept); a file without the markers
# is written whole.
begin='<!-- make bench: begin -->'
end='<!-- make bench: end -->'

# run_header [LOAD-NOTE]: the lines every written section starts its figures
# with: when, on what, under what load (LOAD-NOTE replaces the default note
# after the load average), at which commit.
run_header() {
	echo "- date: $started"
	echo "- machine: $(nproc) CPUs, $cpu, Linux $(uname -r), $(go version | cut -d' ' -f3)"
	echo "- load average when the run started: $loadavg ${1:-(the machine may be shared)}"
	echo "- commit: $commit"
}

# splice FILE REPORT [BEGIN END]: replace FILE's part between the markers
# (default: $begin and $end) with REPORT (FILE without them: written whole).
splice() {
	local b=${3:-$begin} e=${4:-$end}
	if [[ -f $1 ]] && grep -qxF "$b" "$1" && grep -qxF "$e" "$1"; then
		{
			sed "/^$b\$/,\$d" "$1"
			cat "$2"
			sed "1,/^$e\$/d" "$1"
		} >"$tmp/spliced.md"
		mv "$tmp/spliced.md" "$1"
	else
		mv "$2" "$1"
	fi
}

if [[ $fanout_only != 1 ]]; then
	{
		echo "$begin"
		echo
		echo "## make bench results"
		echo
		echo "Written by \`make bench\` (\`perf/bench.sh\`): run it again to refresh this section. How to"
		echo "read the figures, and how to run ringex-load by hand: [bench.md](bench.md)."
		echo
		run_header
		echo
		echo "### ringexd against the echo floor"
		echo
		echo "Each configuration against the echo floor (\`ringex-load -echo\`: every request acked at once,"
		echo "nothing behind it) and ringexd with each sync policy, interleaved, $repeat times, $floor_duration each:"
		echo "median (range), and in bold the ratio of the median to the echo's. rtt: 1 session, 1 order"
		echo "in flight (the unloaded round trip); max: 4 sessions x 64 in flight (max throughput); deep: 8"
		echo "sessions x 256 in flight (where the durable throughput goal is measured). CPU,"
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
	splice "$out" "$tmp/report.md"
fi

if [[ -s $tmp/fanout-manifest ]]; then
	{
		echo "$begin"
		echo
		echo "## make bench results: fan-out"
		echo
		echo "Written by \`make bench\` (\`perf/bench.sh\`; \`BENCH_FANOUT_ONLY=1 make bench\` runs this part alone)."
		echo
		run_header "(**the machine is shared with other builds**: the
  times move from run to run, the ratios of one run and the counts much less)"
		echo "- $fanout_rate trades/s for $fanout_duration per run, BTC-USD trades channel, each server fresh and alone"
		echo "  with the subscribers (and, for ringexd, the one order-entry session making the trades);"
		echo "  $fanout_repeat run(s) of each server per number of subscribers, the servers interleaved"
		echo
		bin/benchtool fanout "$tmp/fanout-manifest"
		echo
		echo "Commands (addresses and output directories omitted; the same with \`-fanout N\` for each N):"
		echo
		echo "| server | process | ringex-load |"
		echo "|---|---|---|"
		cat "$tmp/fanout-commands"
		echo
		echo "$end"
	} >"$tmp/notifier.md"
	splice "$notifier_out" "$tmp/notifier.md"
fi
if [[ -s $tmp/mix.txt ]]; then
	mix_begin='<!-- make bench: mix begin -->'
	mix_end='<!-- make bench: mix end -->'
	{
		echo "$mix_begin"
		echo
		echo "### make bench results: subscribers of every kind, churn"
		echo
		echo "Written by \`make bench\` (\`perf/bench.sh\`; \`BENCH_FANOUT_ONLY=1 make bench\` runs this part alone)."
		echo
		run_header
		echo
		echo '```'
		cat "$tmp/mix.txt"
		echo '```'
		echo
		echo "$mix_end"
	} >"$tmp/mix.md"
	if [[ -f $notifier_out ]] && grep -qxF "$mix_begin" "$notifier_out"; then
		splice "$notifier_out" "$tmp/mix.md" "$mix_begin" "$mix_end"
	else
		echo "bench: $notifier_out has no $mix_begin marker: the mixed runs' report is in $results/fanout-mix.md" >&2
		cp "$tmp/mix.md" "$results/fanout-mix.md"
	fi
fi
echo
if [[ $fanout_only == 1 ]]; then
	echo "bench: wrote $notifier_out and $results/"
else
	echo "bench: wrote $out, $notifier_out and $results/"
fi
if [[ $failed != 0 ]]; then
	echo "bench: FAILED: a run failed its checks or a server did not stop cleanly (see above)" >&2
	exit 1
fi
