#!/bin/bash
# Interleaved A/B of two ringexd builds against the fan-out floors
# (docs/performance-notifier.md, "Adaptive coalescing"). $BIN holds
# ringexd-base, ringexd-new (any ringexd-NAME for a server "newNAME"...),
# ringex-load and benchtool (go build ./perf/internal/benchtool). Servers:
# base, new*, naive, cWINDOW (the coalescing floor). Each run's fanout.json
# goes to $OUT/N-SERVER-REP and a line to $OUT/manifest;
# perf/notifier-coalesce-ab.py prints the medians.
set -u
B=${BIN:-bin}
out=${OUT:-/tmp/coalesce-ab}
mkdir -p $out
ns=${NS:-100 1000}
reps=${REPS:-3}
servers=${SERVERS:-base new naive c5ms c20ms}
manifest=$out/manifest
for n in $ns; do
 for ((i=1;i<=reps;i++)); do
  for s in $servers; do
   read -r addr md admin <<<"$($B/benchtool ports 3)"
   data=$(mktemp -d)
   case $s in
    base) $B/ringexd-base -data $data -sync off -listen $addr -md-listen $md -admin $admin -log-level warn >$out/server.log 2>&1 & kind=ringexd ;;
    new*) $B/ringexd-$s -data $data -sync off -listen $addr -md-listen $md -admin $admin -log-level warn ${NEWFLAGS:-} >$out/server.log 2>&1 & kind=ringexd ;;
    naive) $B/ringex-load -fanout-floor $md -admin $admin -floor-mode naive >$out/server.log 2>&1 & kind=naive ;;
    c*) $B/ringex-load -fanout-floor $md -admin $admin -floor-mode coalesce -floor-window ${s#c} >$out/server.log 2>&1 & kind=coalesce ;;
   esac
   pid=$!
   $B/benchtool wait "http://$admin/assets" 20s || { echo "no server $s"; cat $out/server.log; exit 1; }
   flags="-fanout $n -trade-rate 1000 -duration 8s -quiet -json"
   [[ $kind != ringexd ]] && flags="$flags -fanout-target floor"
   dir=$out/$n-$s-$i; rm -rf $dir
   st=0
   $B/ringex-load -addr $addr -md $md -admin $admin -pid $pid $flags -out $dir -label "$s" >/dev/null 2>$out/load.err || st=$?
   kill -TERM $pid; wait $pid
   rm -rf $data
   printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$s" "$kind" "$i" "$st" "$dir" >>$manifest
   echo "$(date -u +%T) n=$n $s rep $i status $st load $(cut -d' ' -f1 /proc/loadavg)"
  done
 done
done
