#!/usr/bin/env python3
"""Helpers for bench/dhcp/run.sh (stdlib only).

  bench.py parse <perfdhcp-output> <server> <mode> <rep> <target-rate> <maxdrop> <extra.json>
      parses one perfdhcp -4 run, prints one TSV line (see RUN_COLS) and exits 0 if the run passed
      (drops < maxdrop % and achieved rate >= 95 % of target). With `-x t` in the output it also computes
      latency percentiles from perfdhcp's per-exchange timestamps (perfdhcp 2.2 itself only prints
      min/avg/max/std).
  bench.py summary <results-dir>
      reads runs.tsv and maxrate.tsv, prints the Markdown summary (median over repetitions).
"""
import json
import math
import re
import statistics as st
import sys
from collections import defaultdict

RUN_COLS = [
    'server', 'mode', 'rep', 'rate_target', 'rate_achieved', 'drop_pct',
    'do_sent', 'do_recv', 'ra_sent', 'ra_recv',
    'do_avg_ms', 'do_p50_ms', 'do_p99_ms', 'do_max_ms',
    'ra_avg_ms', 'ra_p50_ms', 'ra_p99_ms', 'ra_max_ms',
    'srv_cpu_pct', 'cli_cpu_pct', 'foreign_cpu_pct', 'srv_rqwait_pct', 'sys_busy_pct', 'srv_rcvbuf_err', 'cli_rcvbuf_err',
    'srv_naks', 'srv_warn_lines', 'pass',
]


def pct(sorted_vals, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return float('nan')
    k = max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1)
    return sorted_vals[k]


def blocks(text):
    """perfdhcp sections: '***Statistics for: X***' and '***Timestamps for packets: X***'."""
    out = {}
    for m in re.finditer(r'\*\*\*(Statistics for|Timestamps for packets): ([A-Z-]+)\*\*\*\n(.*?)(?=\n\*\*\*|\Z)', text, re.S):
        out[(m.group(1), m.group(2))] = m.group(3)
    return out


def num(block, key):
    m = re.search(re.escape(key) + r': ([\d.]+)', block or '')
    return float(m.group(1)) if m else float('nan')


def latencies(block):
    """Per-exchange delays (ms) from a '-x t' timestamps block: 'sent / received: S / R' in seconds."""
    v = []
    for m in re.finditer(r'sent / received: ([\d.]+) / ([\d.]+)', block or ''):
        v.append((float(m.group(2)) - float(m.group(1))) * 1000.0)
    v.sort()
    return v


def f(x, nd=3):
    if isinstance(x, str):
        return x
    if x is None or x != x:
        return 'NA'
    return ('%.' + str(nd) + 'f') % x


def parse(args):
    path, server, mode, rep, target, maxdrop, extra_path = args
    text = open(path, errors='replace').read()
    extra = json.load(open(extra_path))
    m = re.search(r'Rate: ([\d.]+)', text)
    rate = float(m.group(1)) if m else 0.0
    b = blocks(text)
    do, ra = b.get(('Statistics for', 'DISCOVER-OFFER'), ''), b.get(('Statistics for', 'REQUEST-ACK'), '')
    do_sent, do_recv, ra_sent, ra_recv = num(do, 'sent packets'), num(do, 'received packets'), num(ra, 'sent packets'), num(ra, 'received packets')
    drop = 100.0 * (1 - ra_recv / do_sent) if do_sent == do_sent and do_sent > 0 and ra_recv == ra_recv else 100.0
    ok = drop < float(maxdrop) and rate >= 0.95 * float(target)
    do_l = latencies(b.get(('Timestamps for packets', 'DISCOVER-OFFER')))
    ra_l = latencies(b.get(('Timestamps for packets', 'REQUEST-ACK')))
    row = [server, mode, rep, target, f(rate, 1), f(drop, 2),
           f(do_sent, 0), f(do_recv, 0), f(ra_sent, 0), f(ra_recv, 0),
           f(num(do, 'avg delay')), f(pct(do_l, 50)), f(pct(do_l, 99)), f(num(do, 'max delay')),
           f(num(ra, 'avg delay')), f(pct(ra_l, 50)), f(pct(ra_l, 99)), f(num(ra, 'max delay')),
           f(extra.get('srv_cpu_pct'), 0), f(extra.get('cli_cpu_pct'), 0), f(extra.get('foreign_cpu_pct'), 0), f(extra.get('srv_rqwait_pct'), 0), f(extra.get('sys_busy_pct'), 0),
           str(extra.get('srv_rcvbuf_err', 'NA')), str(extra.get('cli_rcvbuf_err', 'NA')),
           str(extra.get('srv_naks', 'NA')), str(extra.get('srv_warn_lines', 'NA')),
           'PASS' if ok else 'FAIL']
    print('\t'.join(row))
    return 0 if ok else 1


def snapshot(args):
    """bench.py snap <out.json> <pgid>...: CPU ticks (utime+stime) of every process outside the given groups."""
    out, skip = args[0], set(args[1:])
    d = {}
    import os
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            st_ = open(f'/proc/{p}/stat').read()
        except OSError:
            continue
        fields = st_[st_.rindex(')') + 2:].split()
        if fields[2] in skip:          # field 5 (pgrp) counted from after the comm
            continue
        d[p] = [int(fields[11]) + int(fields[12]), st_[st_.index('(') + 1:st_.rindex(')')]]
    json.dump(d, open(out, 'w'))
    return 0


def foreign(a, b):
    """CPU ticks used between two snapshots by processes outside the measured groups, and the top consumers."""
    a, b = json.load(open(a)), json.load(open(b))
    per = {}
    for p, (t, comm) in b.items():
        dt = t - a.get(p, [0])[0] if p in a else t
        if dt > 0:
            per[f'{comm}[{p}]'] = dt
    top = sorted(per.items(), key=lambda kv: -kv[1])[:3]
    return sum(per.values()), top


def bursts(args):
    """bench.py bursts <pcap> [gap-us]: how the server's replies are spaced on the wire (captured on the client
    side). A burst is a run of replies each less than gap-us (default 50) after the previous one."""
    import struct
    path = args[0]
    gap = float(args[1]) / 1e6 if len(args) > 1 else 50e-6
    data = open(path, 'rb').read()
    magic = struct.unpack('<I', data[:4])[0]
    endian, nano = ('<', False) if magic in (0xa1b2c3d4, 0xa1b23c4d) else ('>', False)
    nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
    off, ts = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + 'IIII', data[off:off + 16])
        ts.append(sec + frac / (1e9 if nano else 1e6))
        off += 16 + incl
    if len(ts) < 2:
        print(json.dumps({'packets': len(ts)}))
        return 0
    sizes, cur = [], 1
    for a, b in zip(ts, ts[1:]):
        if b - a < gap:
            cur += 1
        else:
            sizes.append(cur)
            cur = 1
    sizes.append(cur)
    # share of packets that travelled in bursts of at least N
    n = len(ts)
    share = {k: round(100.0 * sum(s for s in sizes if s >= k) / n, 1) for k in (8, 32, 100)}
    # most replies inside any 1 ms window
    j, most = 0, 0
    for i in range(n):
        while ts[i] - ts[j] > 1e-3:
            j += 1
        most = max(most, i - j + 1)
    sizes.sort()
    print(json.dumps({'packets': n, 'seconds': round(ts[-1] - ts[0], 3), 'bursts': len(sizes),
                      'burst_p50': pct(sizes, 50), 'burst_p99': pct(sizes, 99), 'burst_max': sizes[-1],
                      'pct_pkts_in_bursts_ge': share, 'max_in_1ms': most}))
    return 0


def read_tsv(path):
    try:
        lines = [l.rstrip('\n').split('\t') for l in open(path) if l.strip() and not l.startswith('#')]
    except FileNotFoundError:
        return []
    return lines


def fl(x):
    try:
        return float(x)
    except ValueError:
        return float('nan')


def med(v):
    v = [x for x in v if x == x]
    return st.median(v) if v else float('nan')


def fmt(x):
    if x != x:
        return 'n/a'
    return f'{x:,.0f}' if abs(x) >= 100 else f'{x:.3g}'


def pc(x):
    return 'n/a' if x != x else fmt(x) + ' %'


def ratio(a, b):
    return f'{a / b:.2f}×' if a == a and b == b and b > 0 else 'n/a'


def summary(args):
    d = args[0]
    allruns = [dict(zip(RUN_COLS, r)) for r in read_tsv(d + '/runs.tsv')]
    runs = [r for r in allruns if r['pass'] != 'DISTURBED']
    disturbed = [r for r in allruns if r['pass'] == 'DISTURBED']
    maxr = read_tsv(d + '/maxrate.tsv')
    order = []
    for r in runs + [{'server': m[0]} for m in maxr]:
        if r['server'] not in order:
            order.append(r['server'])
    peers = [s for s in order if s != 'bootgate']

    # ---- throughput (ladder) ----
    best = defaultdict(list)
    for s, rep, rate in maxr:
        best[s].append(fl(rate))
    at_max = defaultdict(list)   # the passing run at each repetition's max rate
    for s, reps in best.items():
        for rep_i, rate in enumerate(reps, 1):
            for r in runs:
                if r['server'] == s and r['mode'] == 'ladder' and r['rep'] == str(rep_i) and fl(r['rate_target']) == rate and r['pass'] == 'PASS':
                    at_max[s].append(r)
    if maxr:
        print('### Throughput: highest perfdhcp rate passed (< %s %% drops, achieved >= 95 %% of target)\n' % (args[1] if len(args) > 1 else '2'))
        print('| server | max leases/s (median) | per repetition | drops at max | server CPU at max | server CPU ms per lease | perfdhcp CPU at max | bootgate / server |')
        print('|---|---:|---|---:|---:|---:|---:|---:|')
        bg = med(best.get('bootgate', []))
        for s in order:
            v = best.get(s, [])
            am = at_max.get(s, [])
            print(f"| {s} | {fmt(med(v))} | {', '.join(fmt(x) for x in v)} | "
                  f"{pc(med([fl(r['drop_pct']) for r in am]))} | {pc(med([fl(r['srv_cpu_pct']) for r in am]))} | "
                  f"{fmt(med([10.0 * fl(r['srv_cpu_pct']) / fl(r['rate_achieved']) for r in am]))} | "
                  f"{pc(med([fl(r['cli_cpu_pct']) for r in am]))} | {'—' if s == 'bootgate' else ratio(bg, med(v))} |")

        # ---- ladder detail ----
        print('\nLadder detail (median over repetitions per target rate; CPU in % of one core, "other" = every other process on the box, kernel threads such as ksoftirqd included; run-queue wait = time the server main thread was runnable but had no CPU, in % of the run; rcvbuf = UDP receive-buffer overflows in the server / client namespace; Kea reads through a raw socket, so its own overflows do not show there):\n')
        print('| server | target/s | achieved/s | drops % | D-O avg ms | R-A avg ms | R-A max ms | server CPU % | perfdhcp CPU % | other CPU % | server run-queue wait % | rcvbuf srv / cli | pass |')
        print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
        for s in order:
            byrate = defaultdict(list)
            for r in runs:
                if r['server'] == s and r['mode'] == 'ladder':
                    byrate[fl(r['rate_target'])].append(r)
            for rate in sorted(byrate):
                v = byrate[rate]
                g = lambda k: med([fl(r[k]) for r in v])
                print(f"| {s} | {fmt(rate)} | {fmt(g('rate_achieved'))} | {g('drop_pct'):.2f} | {fmt(g('do_avg_ms'))} | {fmt(g('ra_avg_ms'))} | "
                      f"{fmt(g('ra_max_ms'))} | {fmt(g('srv_cpu_pct'))} | {fmt(g('cli_cpu_pct'))} | {fmt(g('foreign_cpu_pct'))} | {fmt(g('srv_rqwait_pct'))} | {fmt(g('srv_rcvbuf_err'))} / {fmt(g('cli_rcvbuf_err'))} | "
                      f"{sum(r['pass'] == 'PASS' for r in v)}/{len(v)} |")

    # ---- latency (fixed rate) ----
    lat = [r for r in runs if r['mode'] == 'latency']
    if lat:
        rate = lat[0]['rate_target']
        print(f'\n### Latency at a fixed {rate} DORA/s (perfdhcp -x t per-exchange timestamps; median over repetitions)\n')
        print('| server | drops % | DISCOVER→OFFER p50 / p99 / max ms | REQUEST→ACK p50 / p99 / max ms | server CPU % | p50 R-A bootgate / server | p99 R-A bootgate / server |')
        print('|---|---:|---|---|---:|---:|---:|')
        by = defaultdict(list)
        for r in lat:
            by[r['server']].append(r)
        g = lambda s, k: med([fl(r[k]) for r in by.get(s, [])])
        for s in order:
            if s not in by:
                continue
            print(f"| {s} | {g(s, 'drop_pct'):.2f} | {fmt(g(s, 'do_p50_ms'))} / {fmt(g(s, 'do_p99_ms'))} / {fmt(g(s, 'do_max_ms'))} | "
                  f"{fmt(g(s, 'ra_p50_ms'))} / {fmt(g(s, 'ra_p99_ms'))} / {fmt(g(s, 'ra_max_ms'))} | {fmt(g(s, 'srv_cpu_pct'))} | "
                  f"{'—' if s == 'bootgate' else ratio(g('bootgate', 'ra_p50_ms'), g(s, 'ra_p50_ms'))} | "
                  f"{'—' if s == 'bootgate' else ratio(g('bootgate', 'ra_p99_ms'), g(s, 'ra_p99_ms'))} |")

    # ---- headline ratios ----
    if 'bootgate' in best and peers:
        print('\n### bootgate / peer\n')
        print('| metric | ' + ' | '.join(f'bootgate / {p}' for p in peers) + ' |')
        print('|---|' + '---:|' * len(peers))
        print('| max leases/s (higher is better) | ' + ' | '.join(ratio(bg, med(best.get(p, []))) for p in peers) + ' |')
        if lat:
            by = defaultdict(list)
            for r in lat:
                by[r['server']].append(r)
            g = lambda s, k: med([fl(r[k]) for r in by.get(s, [])])
            for k, name in (('do_p50_ms', 'DISCOVER→OFFER p50'), ('do_p99_ms', 'DISCOVER→OFFER p99'),
                            ('ra_p50_ms', 'REQUEST→ACK p50'), ('ra_p99_ms', 'REQUEST→ACK p99')):
                print(f'| {name} latency (lower is better) | ' + ' | '.join(ratio(g('bootgate', k), g(p, k)) for p in peers) + ' |')
    brows = read_tsv(d + '/bursts.tsv')
    if brows:
        print('\n### Reply pacing on the wire (captured on the client side of the veth; a burst = replies < 50 µs apart)\n')
        print('| server | rate/s | replies captured | median burst | p99 burst | largest burst | most replies in 1 ms | replies in bursts ≥ 32 | perfdhcp rcvbuf overflows |')
        print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
        for b in brows:
            j = json.loads(b[2])
            print(f"| {b[0]} | {b[1]} | {j.get('packets')} | {j.get('burst_p50')} | {j.get('burst_p99')} | {j.get('burst_max')} | "
                  f"{j.get('max_in_1ms')} | {j.get('pct_pkts_in_bursts_ge', {}).get('32')} % | {b[3] if len(b) > 3 else 'n/a'} |")
    if disturbed:
        print(f'\nRepeated because other processes on the box used > {args[2] if len(args) > 2 else 25} % of a core during the run (excluded above): '
              + ', '.join(f"{r['server']} {r['mode']} {r['rate_target']}/s rep {r['rep']} ({r['foreign_cpu_pct']} %)" for r in disturbed))
    bad = [r for r in runs if r['server'] == 'bootgate' and (r['srv_naks'] not in ('0', 'NA') or r['srv_warn_lines'] not in ('0', 'NA'))]
    if bad:
        print('\nbootgate runs with NAKs or warn/error log lines: ' + ', '.join(f"{r['mode']} {r['rate_target']}/s rep {r['rep']} (NAKs {r['srv_naks']}, log lines {r['srv_warn_lines']})" for r in bad))
    return 0


if __name__ == '__main__':
    cmd, rest = sys.argv[1], sys.argv[2:]
    sys.exit({'parse': parse, 'summary': summary, 'snap': snapshot, 'bursts': bursts}[cmd](rest))
