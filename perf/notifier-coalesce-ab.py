# Medians and ranges of perf/notifier-coalesce-ab.sh runs: python3 perf/notifier-coalesce-ab.py OUT/manifest
import json, sys, statistics as st
from collections import defaultdict
man = sys.argv[1]
rows = defaultdict(list)
order = []
for line in open(man):
    n, s, kind, rep, status, d = line.rstrip('\n').split('\t')
    try:
        j = json.load(open(d + '/fanout.json'))
    except Exception as e:
        print('missing', d, e); continue
    rows[(int(n), s)].append(j)
    if (int(n), s) not in order: order.append((int(n), s))
def ms(us): return '%.2f' % (us / 1000)
print('| subscribers | server | runs | p50 ms | p99 ms median (range) | p99.9 ms | server CPU us / delivery median (range) | writes / delivery | missing, out of order |')
print('|--:|---|--:|--:|--:|--:|--:|--:|--:|')
for key in sorted(order, key=lambda k: (k[0], order.index(k))):
    js = rows[key]
    lat = lambda f: [j['latency'][f] for j in js]
    cpu = [j['server_cpu_us_per_delivery'] for j in js]
    wr = [j['server_writes_per_delivery'] for j in js]
    miss = sum(j['verdict']['missing'] for j in js); ooo = sum(j['verdict']['out_of_order'] for j in js)
    p99 = lat('p99_us')
    print('| %d | %s | %d | %s | %s (%s-%s) | %s | %.2f (%.2f-%.2f) | %.3f | %d, %d |' % (key[0], key[1], len(js), ms(st.median(lat('p50_us'))),
        ms(st.median(p99)), ms(min(p99)), ms(max(p99)), ms(st.median(lat('p99_9_us'))), st.median(cpu), min(cpu), max(cpu), st.median(wr), miss, ooo))
