# Medians and ranges of perf/notifier-coalesce-ab.sh runs: python3 perf/notifier-coalesce-ab.py OUT/manifest
# For each N, every ringexd server's median p99 and CPU per delivery are
# also given as ratios to the floor with the lowest median p99 (the best
# floor) of the same run.
import json, sys, statistics as st
from collections import defaultdict
man = sys.argv[1]
rows = defaultdict(list)
kinds = {}
order = []
for line in open(man):
    n, s, kind, rep, status, d = line.rstrip('\n').split('\t')
    try:
        j = json.load(open(d + '/fanout.json'))
    except Exception as e:
        print('missing', d, e); continue
    rows[(int(n), s)].append(j)
    kinds[s] = kind
    if (int(n), s) not in order: order.append((int(n), s))
def ms(us): return '%.2f' % (us / 1000)
def med(key, f): return st.median([f(j) for j in rows[key]])
p99 = lambda j: j['latency']['p99_us']
cpu = lambda j: j['server_cpu_us_per_delivery']
print('| subscribers | server | runs | p50 ms | p99 ms median (range) | p99.9 ms | server CPU us / delivery median (range) | writes / delivery | p99, CPU / best floor | missing, out of order |')
print('|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|')
for key in sorted(order, key=lambda k: (k[0], order.index(k))):
    js = rows[key]
    lat = lambda f: [j['latency'][f] for j in js]
    c = [cpu(j) for j in js]
    wr = [j['server_writes_per_delivery'] for j in js]
    miss = sum(j['verdict']['missing'] for j in js); ooo = sum(j['verdict']['out_of_order'] for j in js)
    p = [p99(j) for j in js]
    floors = [k for k in order if k[0] == key[0] and kinds[k[1]] != 'ringexd']
    ratio = ''
    if kinds[key[1]] == 'ringexd' and floors:
        best = min(floors, key=lambda k: med(k, p99))
        ratio = '%.2fx, %.2fx (%s)' % (st.median(p) / med(best, p99), st.median(c) / med(best, cpu), best[1])
    print('| %d | %s | %d | %s | %s (%s-%s) | %s | %.2f (%.2f-%.2f) | %.3f | %s | %d, %d |' % (key[0], key[1], len(js), ms(st.median(lat('p50_us'))),
        ms(st.median(p)), ms(min(p)), ms(max(p)), ms(st.median(lat('p99_9_us'))), st.median(c), min(c), max(c), st.median(wr), ratio, miss, ooo))
