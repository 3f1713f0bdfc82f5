#!/usr/bin/env bash
# make bench: micro-benchmarks (engine, ring with channel twins, journal,
# wire) and end-to-end ringex-load runs against a real ringexd on a
# temporary data directory. Writes docs/performance-run.md (the raw table of
# this run); docs/performance.md quotes and discusses the figures.
# Fits a 2-core machine: about 6-8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/performance-run.md
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o bin/ ./cmd/...

{
  echo "# make bench: raw results"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(go version | cut -d' ' -f3)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "## Micro-benchmarks"
  echo
  echo '```'
  echo "\$ go test -run '^\$' -bench . -benchmem -benchtime=1s ./engine ./ring ./journal ./netio/wire"
} > "$out"
go test -run '^$' -bench . -benchmem -benchtime=1s ./engine ./ring ./journal ./netio/wire 2>&1 \
  | grep -E '^(Benchmark|ok|FAIL|goos|cpu)' | tee -a "$out"
echo '```' >> "$out"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

run_load() { # sync rate duration
  local sync=$1 rate=$2 dur=$3
  local addr=127.0.0.1:$(port) md=127.0.0.1:$(port) admin=127.0.0.1:$(port)
  rm -rf "$tmp/data"
  ./bin/ringexd -data "$tmp/data" -sync "$sync" -listen "$addr" -md-listen "$md" -admin "$admin" \
    -log-level warn 2>"$tmp/server.log" &
  local pid=$!
  for _ in $(seq 200); do
    curl -sf "http://$admin/assets" >/dev/null 2>&1 && break
    sleep 0.05
  done
  if ! curl -sf "http://$admin/assets" >/dev/null; then
    echo "ringexd did not start:"; cat "$tmp/server.log"; exit 1
  fi
  local cmd="ringex-load -rate $rate -duration $dur -conns 4 -subs 20 -out docs/bench/$sync-$rate"
  {
    echo
    echo "### sync=$sync, $rate orders/s"
    echo
    echo '```'
    echo "\$ ringexd -sync $sync &; $cmd"
  } >> "$out"
  ./bin/ringex-load -addr "$addr" -md "$md" -admin "$admin" -rate "$rate" -duration "$dur" -conns 4 -subs 20 \
     -quiet -out "docs/bench/$sync-$rate" -json 2>&1 | tee -a "$out" || echo "(run failed its checks)" | tee -a "$out"
  echo '```' >> "$out"
  kill -TERM "$pid"; wait "$pid" || true
}

echo >> "$out"; echo "## End to end (ringexd + ringex-load on the same machine, loopback)" >> "$out"
mkdir -p docs/bench
for rate in 10000 50000 100000; do run_load off "$rate" 10s; done
for rate in 10000 50000; do run_load always "$rate" 10s; done
run_load off 0 5s
echo "wrote $out and docs/bench/*/latency.png"
