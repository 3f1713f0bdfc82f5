#!/bin/bash
# Interleaved A/B of ringexd builds against the fan-out floors
# (docs/performance-notifier.md, "Adaptive coalescing"). $BIN holds
# ringexd-base, ringexd-new (any ringexd-NAME for a server "NAME"),
# ringex-load and benchtool (go build ./perf/internal/benchtool). Servers:
# NAME (ringexd-NAME; NAME~5ms runs it with -md-max-coalesce 5ms), naive,
# cWINDOW (the coalescing floor). SERVERS lists them; SERVERS_N, if set,
# replaces it for N subscribers. The repetitions are the outer loop, so a
# run cut short still has every server of the repetitions it finished.
# Each run holds the machine's benchmark lock (/tmp/ringex-bench.lock).
# Each run's fanout.json goes to $OUT/N-SERVER-REP and a line to
# $OUT/manifest; perf/notifier-coalesce-ab.py prints the medians.
set -u
B=${BIN:-bin}
out=${OUT:-/tmp/coalesce-ab}
mkdir -p $out
ns=${NS:-100 1000}
reps=${REPS:-3}
servers=${SERVERS:-base new naive c5ms c20ms}
manifest=$out/manifest
for ((i=1;i<=reps;i++)); do
 for n in $ns; do
  eval "ss=\${SERVERS_$n:-\$servers}"
  for s in $ss; do
   exec 9>/tmp/ringex-bench.lock
   flock 9
   read -r addr md admin <<<"$($B/benchtool ports 3)"
   data=$(mktemp -d)
   case $s in
    naive) $B/ringex-load -fanout-floor $md -admin $admin -floor-mode naive >$out/server.log 2>&1 & kind=naive ;;
    c[0-9]*) $B/ringex-load -fanout-floor $md -admin $admin -floor-mode coalesce -floor-window ${s#c} >$out/server.log 2>&1 & kind=coalesce ;;
    *) bin=${s%%~*} win=""
       [[ $s == *~* ]] && win="-md-max-coalesce ${s#*~}"
       $B/ringexd-$bin -data $data -sync off -listen $addr -md-listen $md -admin $admin -log-level warn $win >$out/server.log 2>&1 & kind=ringexd ;;
   esac
   pid=$!
   $B/benchtool wait "http://$admin/assets" 20s || { echo "no server $s"; cat $out/server.log; exit 1; }
   flags="-fanout $n -trade-rate 1000 -duration ${DURATION:-8s} -quiet -json"
   [[ $kind != ringexd ]] && flags="$flags -fanout-target floor"
   dir=$out/$n-$s-$i; rm -rf $dir
   st=0
   $B/ringex-load -addr $addr -md $md -admin $admin -pid $pid $flags -out $dir -label "$s" >/dev/null 2>$out/load.err || st=$?
   kill -TERM $pid; wait $pid
   flock -u 9
   rm -rf $data
   printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$s" "$kind" "$i" "$st" "$dir" >>$manifest
   echo "$(date -u +%T) n=$n $s rep $i status $st load $(cut -d' ' -f1 /proc/loadavg)"
  done
 done
done
