#!/usr/bin/env python3
"""Summary of bench/storm/full-run.ts's results.jsonl: medians over repetitions per (N, stack), ms → s."""
import collections
import json
import statistics as st
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
g = collections.defaultdict(list)
for r in rows:
    g[(r['n'], r['stack'])].append(r)
med = lambda rs, f: st.median(f(r) for r in rs)
s = lambda ms: '%.2f' % (ms / 1e3)
# other users of the machine during the run (CPU s beside servers and driver; recorded from the second run on)
others = lambda rs: '%.1f' % st.median(r['othersCpuS'] for r in rs if 'othersCpuS' in r) if any('othersCpuS' in r for r in rs) else '-'
print('| N | stack | done | wall s | total p50 / p99 s | dhcp p99 | tftp p99 | script p99 (queued) | files p99 | iscsi p50 / p99 | server CPU s (driver, others) | load1 | wall, p99 ÷ peer |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for n in sorted({k[0] for k in g}):
    peer = g.get((n, 'peer'))
    for stack in ['bootgate', 'bootgate-adm', 'peer']:
        rs = g.get((n, stack))
        if not rs:
            continue
        wall = med(rs, lambda r: r['wallMs'])
        p99 = med(rs, lambda r: r['total']['p99'])
        ratio = '%.2f, %.2f' % (wall / med(peer, lambda r: r['wallMs']), p99 / med(peer, lambda r: r['total']['p99'])) if peer else '-'
        label = stack + (' (bound %d)' % rs[0]['bound'] if rs[0].get('bound') else '')
        print('| %d | %s | %s | %s | %s / %s | %s | %s | %s (%s) | %s | %s / %s | %.1f (%.1f, %s) | %s | %s |' % (
            n, label, '/'.join('%d' % r['completed'] for r in rs), s(wall),
            s(med(rs, lambda r: r['total']['p50'])), s(p99),
            s(med(rs, lambda r: r['dhcp']['p99'])), s(med(rs, lambda r: r['tftp']['p99'])),
            s(med(rs, lambda r: r['script']['p99'])), s(med(rs, lambda r: r['queued']['p99'])),
            s(med(rs, lambda r: r['files']['p99'])),
            s(med(rs, lambda r: r['iscsi']['p50'])), s(med(rs, lambda r: r['iscsi']['p99'])),
            med(rs, lambda r: r['serverCpuS']), med(rs, lambda r: r.get('clientCpuS', 0)), others(rs), ','.join('%.1f' % r['load1'] for r in rs), ratio))
fails = [r for r in rows if r['failed']]
for r in fails:
    print('\n%s N=%d rep %d: %d failed, first: %s' % (r['stack'], r['n'], r['rep'], r['failed'], r.get('firstFailure')))
