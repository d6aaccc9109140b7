/**
 * Turns iscsi-test-cu (CUnit verbose) output into per-test outcomes and a per-suite table:
 *   node --import tsx test/conformance/iscsi-cu-table.ts docs/bench/iscsi-cu/bootgate.txt docs/bench/iscsi-cu/tgt.txt
 * A test is "skipped" when it printed [SKIPPED] before its verdict: libiscsi counts those as passed (CU_PASS).
 * Text after a verdict on the same line is the suite teardown's (e.g. its PERSISTENT RESERVE IN probe) and is
 * ignored.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Outcome = 'passed' | 'failed' | 'skipped';

export function parseCu(out: string): Map<string, Outcome> {
  const res = new Map<string, Outcome>();
  let suite = '';
  let test = '';
  let body = '';
  const verdict = /(?:^|\.\.\.|\s)(passed|FAILED)(?=\s|$)/;
  for (const line of out.split('\n')) {
    const s = /^Suite: (\S+)/.exec(line);
    if (s) {
      suite = s[1]!;
      continue;
    }
    let rest = line;
    const t = /^\s+Test: (\S+) \.\.\.(.*)$/.exec(line);
    if (t) {
      test = `${suite}.${t[1]!}`;
      body = '';
      rest = t[2]!;
    }
    if (!test) continue;
    // verdicts: "passed" / "FAILED" standing alone (not "[FAILED]" log lines)
    const v = verdict.exec(rest.replace(/\[FAILED\]|\[SKIPPED\]/g, (m) => m.toLowerCase()));
    if (v) {
      body += rest.slice(0, v.index);
      res.set(test, v[1] === 'FAILED' ? 'failed' : /\[SKIPPED\]/.test(body) ? 'skipped' : 'passed');
      test = '';
      continue;
    }
    body += rest + '\n';
  }
  return res;
}

export function suiteTable(runs: Array<[string, Map<string, Outcome>]>): string {
  const suites = new Set<string>();
  for (const [, m] of runs) for (const k of m.keys()) suites.add(k.split('.')[0]!);
  const head = `| suite | ${runs.map(([n]) => `${n} pass / fail / skip`).join(' | ')} |`;
  const sep = `|---|${runs.map(() => '---|').join('')}`;
  const rows = [...suites].map((s) => {
    const cells = runs.map(([, m]) => {
      const c = { passed: 0, failed: 0, skipped: 0 };
      for (const [k, o] of m) if (k.split('.')[0] === s) c[o]++;
      return `${c.passed} / ${c.failed} / ${c.skipped}`;
    });
    return `| ${s} | ${cells.join(' | ')} |`;
  });
  const tot = runs.map(([, m]) => {
    const c = { passed: 0, failed: 0, skipped: 0 };
    for (const o of m.values()) c[o]++;
    return `**${c.passed} / ${c.failed} / ${c.skipped}**`;
  });
  return [head, sep, ...rows, `| **all** | ${tot.join(' | ')} |`].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  const runs = files.map((f) => [f.replace(/^.*\/|\.txt$/g, ''), parseCu(readFileSync(f, 'utf8'))] as [string, Map<string, Outcome>]);
  console.log(suiteTable(runs));
  const [a, b] = runs;
  if (a && b) for (const [k, o] of a[1]) if (o !== b[1].get(k)) console.error(`${k}: ${a[0]} ${o}, ${b[0]} ${b[1].get(k) ?? 'absent'}`);
}
