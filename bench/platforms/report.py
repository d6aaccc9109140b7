#!/usr/bin/env python3
"""bench/platforms/report.py OUT DOC — the summary of one bench/platforms/run.sh run.

Reads OUT/results.tsv, OUT/placement.md, OUT/decisions.txt, OUT/notes.txt and OUT/machine.txt; prints the summary
(also OUT/summary.md) and, unless DOC is "-", puts it between the markers of DOC, keeping the text around them.
"""
import os
import re
import statistics as st
import sys

out, doc = sys.argv[1], sys.argv[2]
BEGIN = '<!-- bench/platforms/run.sh: figures of the last run, generated — begin -->'
END = '<!-- bench/platforms/run.sh: end of the generated figures -->'


def read(name):
    p = os.path.join(out, name)
    return open(p).read() if os.path.exists(p) else ''


rows = [l.rstrip('\n').split('\t') for l in read('results.tsv').splitlines() if l and not l.startswith('#')]
COLS = ['part', 'label', 'round', 'rps', 'p50', 'p99', 'n', 'errors', 'srv', 'be', 'wrk', 'busy', 'la', 'main', 'irq']
rows = [dict(zip(COLS, r)) for r in rows]
have_irq = bool(rows) and all('irq' in r for r in rows)
lines = []
say = lines.append


def runs(part, label):
    return [r for r in rows if r['part'] == part and r['label'] == label]


def med(rs, k):
    return st.median(float(r[k]) for r in rs)


def rng(rs, k, fmt='%.0f'):
    v = [float(r[k]) for r in rs]
    return (fmt + '–' + fmt) % (min(v), max(v))


def table(part, labels, what):
    say('| %s | req/s median (range) | p50 ms | p99 ms median (range) | server CPU, %% of one core (main thread) | backend nginx CPU | wrk CPU | machine busy, %% of %d cores | %s | errors |'
        % (what, os.cpu_count() or 0, 'kernel irq+softirq | other processes ≈' if have_irq else 'other processes + kernel softirq ≈'))
    say('|---|---:|---:|---:|---:|---:|---:|---:|---:|%s---|' % ('---:|' if have_irq else ''))
    for l in labels:
        rs = runs(part, l)
        if not rs:
            continue
        # what is not ours: the machine's busy time less our processes and (when measured) the kernel's irq/softirq
        others = st.median(float(r['busy']) - float(r.get('irq') or 0) - float(r['srv']) - float(r['be']) - float(r['wrk']) for r in rs)
        if l == 'direct-A':
            others += med(rs, 'srv')  # the server is the backend: counted once
        errs = ', '.join(sorted({r['errors'] for r in rs}))
        irq = '%.0f %% | ' % med(rs, 'irq') if have_irq else ''
        say('| %s | %.0f (%s) | %.2f | %.2f (%s) | %.0f %% (%.0f %%) | %.0f %% | %.0f %% | %.0f %% | %s%.0f %% | %s |' % (
            l, med(rs, 'rps'), rng(rs, 'rps'), med(rs, 'p50'), med(rs, 'p99'), rng(rs, 'p99', '%.2f'),
            med(rs, 'srv'), med(rs, 'main'), med(rs, 'be'), med(rs, 'wrk'), med(rs, 'busy'), irq, max(0, others), errs))


def ratios(part, a, b, goal=None):
    """same-round ratios a ÷ b for req/s and p99"""
    ra, rb = runs(part, a), runs(part, b)
    if not ra or not rb:
        return None
    parts, rps, p99 = [], [], []
    for r in ra:
        x = next((y for y in rb if y['round'] == r['round']), None)
        if not x:
            continue
        q, p = float(r['rps']) / float(x['rps']), float(r['p99']) / float(x['p99'])
        rps.append(q)
        p99.append(p)
        parts.append('round %s: %.2f×, p99 %.2f×' % (r['round'], q, p))
    say('- **%s ÷ %s**: req/s **%.2f×** (median of rounds), p99 **%.2f×**%s — %s' % (
        a, b, st.median(rps), st.median(p99), ' (goal: %s)' % goal if goal else '', '; '.join(parts)))
    return st.median(rps), st.median(p99)


machine = read('machine.txt').strip()
notes = read('notes.txt').strip()
m = re.search(r'^date: (.*)$', machine, re.M)
say('Run %s; %s.' % (m.group(1) if m else '?', (re.search(r'^build: (.*)$', machine, re.M) or re.match('', '')).group(0)))
say('')

if runs('redirect', 'bootgate-302'):
    say('### 302 mode: decisions')
    say('')
    say('`wrk %s --latency http://<gw>:8080/svc/game/file4k` from the client namespace; wrk does not follow the 302, so '
        'each request is one decision (registry.choose + the 302). Peer: HAProxy with one thread answering a static 302 '
        '(no choice at all), what one thread\'s HTTP 302 costs here.' % os.environ.get('WRK_ARGS', '-t2 -c50 -d10s'))
    say('')
    table('redirect', ['bootgate-302', 'haproxy-1t-static-302'], '302')
    say('')
    ratios('redirect', 'bootgate-302', 'haproxy-1t-static-302')
    bg = med(runs('redirect', 'bootgate-302'), 'rps')
    say('- goal ≥ 20,000 decisions/s: **%s** (median %.0f/s)' % ('met' if bg >= 20000 else 'not met', bg))
    d = read('decisions.txt')
    b = dict(re.findall(r'(\w)=(\d+)', (re.search(r'^decisions before: (.*)$', d, re.M) or re.match('', '')).group(0)))
    a = dict(re.findall(r'(\w)=(\d+)', (re.search(r'^decisions after: (.*)$', d, re.M) or re.match('', '')).group(0)))
    caps = dict(re.findall(r'(\w)=(\d+)', (re.search(r'^capacities: (.*)$', d, re.M) or re.match('', '')).group(0)))
    if a and caps:
        diff = {k: int(a[k]) - int(b.get(k, 0)) for k in a}
        tot, ctot = sum(diff.values()), sum(int(v) for v in caps.values())
        say('- decisions per instance during the part (warm-ups included), share ÷ capacity share: ' + ', '.join(
            '%s %d (%.1f %% ÷ %.0f %% = %.3f)' % (k, diff[k], 100 * diff[k] / tot, 100 * int(caps[k]) / ctot,
                                                 (diff[k] / tot) / (int(caps[k]) / ctot)) for k in sorted(diff)))
    hb = re.search(r'^heartbeats during.*$', d, re.M)
    if hb:
        say('- ' + hb.group(0))
    say('')

placement = read('placement.md').strip()
if placement:
    say('### Placement on a burst (1,000 requests between two heartbeats)')
    say('')
    say('`bench/platforms/placement.ts`: capacities 100/200/300/400; load = (reported sessions + assigned) ÷ capacity; '
        'figure = max ÷ mean of the four loads (goal ≤ 1.1 for bootgate). bootgate is the real PlatformRegistry on a '
        'SQLite file with an injected clock; the others are simulated on the same fleet and seeds.')
    say('')
    for l in placement.splitlines()[1:]:
        say(l if l.startswith('|') else '- ' + l)
    say('')

if any(r['part'] == 'proxy' for r in rows):
    say('### Proxy mode vs HAProxy vs direct')
    say('')
    say('`wrk %s --latency` for a 4 KiB file: bootgate `http://<gw>:8090/svc/game/file4k` (class game, `mode: proxy`), '
        'HAProxy 2.6 `balance leastconn` over the same four instances (weights = capacities; path rewritten as '
        'bootgate does), and direct to instance A.' % os.environ.get('WRK_ARGS', '-t2 -c50 -d10s'))
    say('')
    table('proxy', ['bootgate-proxy', 'haproxy-leastconn', 'haproxy-1t-leastconn', 'direct-A'], 'target')
    say('')
    r = ratios('proxy', 'bootgate-proxy', 'haproxy-leastconn', '≥ 1.0× req/s, p99 ≤ 1.5×')
    ratios('proxy', 'bootgate-proxy', 'haproxy-1t-leastconn')
    o = ratios('proxy', 'bootgate-proxy', 'direct-A', 'overhead ≤ 15 %, i.e. ≥ 0.85×')
    ratios('proxy', 'haproxy-leastconn', 'direct-A')
    ratios('proxy', 'haproxy-1t-leastconn', 'direct-A')
    if not runs('proxy', 'bootgate-proxy'):
        say('- bootgate proxy mode: **not measured in this run** (see the notes below)')
    say('')

if notes:
    say('### Notes of the run')
    say('')
    for n in notes.splitlines():
        say('- ' + n)
    say('')
say('### Machine state')
say('')
say('```')
say(machine)
say('```')
summary = '\n'.join(lines) + '\n'
open(os.path.join(out, 'summary.md'), 'w').write(summary)
print(summary)

if doc != '-':
    block = BEGIN + '\n' + summary + END + '\n'
    if os.path.exists(doc):
        text = open(doc).read()
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END) + 1:]
        else:
            text = text.rstrip('\n') + '\n\n' + block
    else:
        text = '# Service platforms benchmark (bench/platforms)\n\n' + block
    open(doc, 'w').write(text)
    print('figures written to %s' % doc)
