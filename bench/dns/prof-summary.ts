/**
 * Self time per function (and per file) from a V8 .cpuprofile, the top entries. Usage: prof-summary.ts FILE [N]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, top = '30'] = process.argv.slice(2) as [string, string?];
const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[] };
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const fn = new Map<string, number>();
const files = new Map<string, number>();
for (const id of p.samples) {
  const n = byId.get(id)!;
  const url = n.callFrame.url.replace(/^.*\/(node_modules|src|test|lib)\//, '$1/') || '(native)';
  const k = `${n.callFrame.functionName || '(anon)'} ${url}:${n.callFrame.lineNumber + 1}`;
  fn.set(k, (fn.get(k) ?? 0) + 1);
  files.set(url, (files.get(url) ?? 0) + 1);
}
const total = p.samples.length;
const show = (m: Map<string, number>, n: number): void => {
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
};
console.log(`samples: ${total}\n-- by function (self)`);
show(fn, Number(top));
console.log('-- by file (self)');
show(files, 15);
