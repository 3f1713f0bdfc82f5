#!/usr/bin/env python3
"""trace-stalls.py: where ringexd's slow acks waited, from an execution trace.

Take a trace of ringexd at saturation and dump it as text, then run this on
the dump:

    curl -o t.out 'http://ADMIN/debug/pprof/trace?seconds=3'
    go tool trace -d=parsed t.out > t.txt
    perf/trace-stalls.py t.txt

It prints, for the span of the trace:

  - the Pebble flushes (first to last run of each goroutine whose stack has
    DB.flush1) and the share of the span they cover;
  - the gaps between two ack writes of each commit goroutine (the
    write(2)s of Outbox.writeFD under the commit stage: commitStage, or an
    asset group's fusedCommitGroup or syncGroup), how many of the long
    ones fall in a flush, and the longest few;
  - the writers' waits for the epoch lock (Store.lockEpoch) and what the
    rotator, which holds it, was in meanwhile;
  - the time a P was held by a thread in a system call while goroutines
    that had been woken waited for a P, by system call (a Go thread blocked
    in a system call keeps its P until sysmon takes it, 20 us to 10+ ms
    later);
  - the freezes: goroutines runnable and none running for 1 ms or more,
    with what held the Ps (gnet's event loops block in epoll_wait through a
    raw system call, holding their P; with as many loops as Ps, the whole
    process stops until sysmon takes a P back);
  - the durations of the system calls, by kind.

A goroutine's own stack is the one printed with its transitions out of
Running; a transition of another goroutine (a wake-up) carries the
waker's stack, so only the former are used to name goroutines.
"""
import collections
import re
import sys

HDR = re.compile(r'^M=(-?\d+) P=(-?\d+) G=(-?\d+) (\w+) Time=(\d+)(.*)$')
GTR = re.compile(r'GoID=(\d+) (\w+)->(\w+) Reason="([^"]*)"')
PTR = re.compile(r'ProcID=(\d+) (\w+)->(\w+)')


def is_commit(joined):
    """Whether a stack is the commit stage's: one asset's (commitStage) or
    an asset group's (fusedCommitGroup, or syncGroup under -sync always)."""
    return 'commitStage' in joined or 'fusedCommitGroup' in joined or 'syncGroup' in joined


def short(frame):
    f = frame.split(' @ ')[0]
    return f.rsplit('/', 1)[-1]


def syscall_kind(frames):
    s = ' '.join(frames)
    for pat, kind in (('LogWriter', 'WAL write/sync'), ('sstable', 'sstable write'),
                      ('objstorage', 'sstable write'), ('SyncFileRange', 'sync_file_range'),
                      ('Fdatasync', 'fdatasync'), ('Fsync', 'fsync'),
                      ('writeFD', 'socket write (acks, fills)'), ('EpollWait', 'epoll_wait (gnet)'),
                      ('Trigger', 'eventfd write (gnet wake-up)'), ('unix.read', 'socket read')):
        if pat in s:
            return kind
    return short(frames[0]) if frames else '?'


def pct(v, q):
    return v[min(len(v) - 1, int(len(v) * q))]


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 8

    t0 = last = None
    flushg = set()
    commitg = set()
    rotatorg = set()
    first, lastrun = {}, {}
    acks = collections.defaultdict(list)      # commit goroutine -> ack write times
    epoch_waits = []                          # (start, end, g)
    rot_states = []                           # (start, end, state, what)
    sysdur = collections.defaultdict(list)    # kind -> durations
    held = collections.Counter()              # kind -> P-ns held while woken goroutines waited
    woken_wait = 0
    # state
    gstate = {}                               # g -> (since, state, frames)
    insys = {}                                # g -> (since, kind, p)
    phold = {}                                # p -> kind
    woken = set()
    runnable, running = set(), set()
    freeze = None                             # (start, what held the Ps)
    freezes = []                              # (start, end, held)

    pending = None                            # (g, t, a, b, own) waiting for its stack
    frames = []

    def settle():
        nonlocal pending
        if pending is None:
            return
        g, t, a, b, p, own = pending
        pending = None
        fs = frames if own else []
        joined = ' '.join(fs)
        if own:
            if '(*DB).flush1' in joined:
                flushg.add(g)
            if is_commit(joined):
                commitg.add(g)
            if 'Store).rotator' in joined:
                rotatorg.add(g)
        prev = gstate.get(g)
        if prev is not None:
            s, st, pf = prev
            pj = ' '.join(pf)
            if st == 'Waiting' and 'lockEpoch' in pj:
                epoch_waits.append((s, t, g))
            if g in rotatorg and t - s >= 200_000:
                rot_states.append((s, t, st, ' <- '.join(short(x) for x in pf[:5])))
        gstate[g] = (t, b, fs)
        if b == 'Syscall':
            k = syscall_kind(fs)
            insys[g] = (t, k, p)
            if p >= 0:
                phold[p] = k
            if 'writeFD' in joined and is_commit(joined):
                acks[g].append(t)

    with open(path) as fh:
        for line in fh:
            if line.startswith('M='):
                settle()
                frames = []
                m = HDR.match(line)
                if not m:
                    continue
                t = int(m.group(5))
                if t0 is None:
                    t0 = last = t
                dt = t - last
                if freeze is None and runnable and not running:
                    freeze = (last, sorted(phold.values()))
                elif freeze is not None and (running or not runnable):
                    if t - freeze[0] >= 1e6:
                        freezes.append((freeze[0], t, freeze[1]))
                    freeze = None
                last = t
                if woken:
                    woken_wait += dt
                    for k in phold.values():
                        held[k] += dt
                mp = PTR.search(m.group(6))
                if mp:
                    phold.pop(int(mp.group(1)), None)
                    continue
                mt = GTR.search(m.group(6))
                if not mt:
                    continue
                g, a, b, why = int(mt.group(1)), mt.group(2), mt.group(3), mt.group(4)
                p = int(m.group(2))
                if a == 'Syscall' and g in insys:
                    s, k, sp = insys.pop(g)
                    if k != '?':
                        sysdur[k].append(t - s)
                    if sp >= 0 and phold.get(sp) == k:
                        phold.pop(sp, None)
                running.discard(g)
                runnable.discard(g)
                if b == 'Running':
                    running.add(g)
                elif b == 'Runnable':
                    runnable.add(g)
                if b == 'Running':
                    first.setdefault(g, t)
                    lastrun[g] = t
                    woken.discard(g)
                elif a == 'Running':
                    lastrun[g] = t
                if b == 'Runnable' and not (a == 'Running' and why == 'runtime.Gosched'):
                    woken.add(g)
                elif b != 'Runnable':
                    woken.discard(g)
                own = int(m.group(3)) == g and a == 'Running'
                pending = (g, t, a, b, p, own)
            elif line.startswith('\t') and not line.startswith('\t\t'):
                if len(frames) < 32:
                    frames.append(line.strip())
            elif line.startswith('Stack=') and pending and frames:
                # the event's second stack (Stack= after TransitionStack=) adds nothing
                pass
        settle()

    span = last - t0
    ms = lambda ns: ns / 1e6
    print(f'trace span {ms(span):.0f} ms')

    flushes = sorted((first[g], lastrun[g]) for g in flushg if g in first)
    merged = []
    for s, e in flushes:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    infl = sum(e - s for s, e in merged)
    print(f'\nPebble flushes (first to last run of the flush goroutines): ' +
          ', '.join(f'{ms(s - t0):.0f}-{ms(e - t0):.0f}' for s, e in merged) +
          f' ms: {100 * infl / span:.0f} % of the span')

    def in_flush(t):
        return any(s <= t <= e for s, e in merged)

    gaps = []
    for g, ts in acks.items():
        ts.sort()
        gaps += [(ts[i + 1] - ts[i], ts[i], g) for i in range(len(ts) - 1)]
    gaps.sort(reverse=True)
    print(f'\nack writes of {len(acks)} commit goroutines: {sum(len(v) for v in acks.values())}')
    for thr in (1, 2, 5, 10):
        sel = [x for x in gaps if x[0] >= thr * 1e6]
        n_in = sum(1 for d, s, g in sel if in_flush(s) or in_flush(s + d))
        print(f'  gaps >= {thr:2d} ms: {len(sel):5d}, {n_in} of them in a flush')
    print(f'  the {top} longest: ' + ', '.join(f'{ms(s - t0):.0f}+{ms(d):.1f}' for d, s, g in gaps[:top]))

    tot = sum(e - s for s, e, g in epoch_waits)
    longw = sorted(((s, e) for s, e, g in epoch_waits if e - s >= 1e6))
    print(f'\nwriters waiting for the epoch lock: {len(epoch_waits)} waits, {ms(tot):.1f} ms in all; >= 1 ms: ' +
          ', '.join(f'{ms(s - t0):.0f}+{ms(e - s):.1f}' for s, e in longw))
    print('the rotator (which holds it while it rotates), states >= 0.2 ms:')
    for s, e, st, what in rot_states:
        if st != 'Waiting' or 'rotator' not in what:
            print(f'  {ms(s - t0):9.2f} +{ms(e - s):6.2f} ms {st:9s} {what}')

    print(f'\nwoken goroutines waited for a P for {ms(woken_wait):.0f} ms of the span; meanwhile Ps held by '
          'threads in system calls (P-ms, by call):')
    for k, v in held.most_common(top):
        print(f'  {k:30s} {ms(v):8.1f}')

    print(f'\nfreezes (goroutines runnable, none running) >= 1 ms: {len(freezes)}, '
          f'{ms(sum(e - s for s, e, h in freezes)):.1f} ms in all; the Ps were held by:')
    byheld = collections.Counter()
    for s, e, h in freezes:
        byheld[' + '.join(h) or 'nothing (the process was not scheduled)'] += 1
    for k, n in byheld.most_common():
        print(f'  {n:4d} x {k}')
    print('  the longest: ' + ', '.join(f'{ms(s - t0):.0f}+{ms(e - s):.1f}' for s, e, h in
                                      sorted(freezes, key=lambda x: x[0] - x[1])[:top]))

    print('\nsystem calls: count, total, p50, p99, p99.9, max')
    for k, v in sorted(sysdur.items(), key=lambda x: -sum(x[1]))[:top + 2]:
        v.sort()
        print(f'  {k:30s} {len(v):7d} {ms(sum(v)):8.1f} ms {pct(v, .5) / 1e3:8.1f} us {pct(v, .99) / 1e3:8.1f} us '
              f'{pct(v, .999) / 1e3:8.1f} us {v[-1] / 1e3:9.1f} us')


if __name__ == '__main__':
    main()
