/**
 * A tiny line chart in SVG, built with DOM calls (no library, nothing fetched, no inline style: the CSP holds).
 * Pure geometry in `chartPaths` (unit-tested); `lineChart` turns it into elements.
 */
export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface ChartGeometry {
  paths: Array<{ name: string; d: string }>;
  yMax: number;
  xMin: number;
  xMax: number;
}

/** Polyline paths of each series scaled into width × height (y up, from 0 to the largest value). */
export function chartPaths(series: readonly Series[], width: number, height: number): ChartGeometry {
  const all = series.flatMap((s) => s.points);
  const xMin = all.length ? Math.min(...all.map((p) => p[0])) : 0;
  const xMax = all.length ? Math.max(...all.map((p) => p[0])) : 1;
  const yMax = Math.max(1e-9, ...all.map((p) => p[1]));
  const sx = (x: number): number => (xMax === xMin ? width : ((x - xMin) / (xMax - xMin)) * width);
  const sy = (y: number): number => height - (y / yMax) * height;
  return {
    xMin,
    xMax,
    yMax: all.length ? yMax : 0,
    paths: series.map((s) => ({
      name: s.name,
      d: s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' '),
    })),
  };
}

const NS = 'http://www.w3.org/2000/svg';
const W = 240;
const H = 60;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** The chart: a titled SVG (role img, the title is its accessible name), the series as lines, the maximum as text. */
export function lineChart(title: string, series: readonly Series[], formatY: (y: number) => string): SVGSVGElement {
  const g = chartPaths(series, W, H);
  const root = svg('svg', { viewBox: `0 -12 ${W} ${H + 14}`, class: 'chart', role: 'img', 'aria-label': title });
  const t = svg('title', {});
  t.textContent = title;
  root.append(t, svg('line', { x1: '0', y1: String(H), x2: String(W), y2: String(H), class: 'axis' }));
  g.paths.forEach((p, i) => {
    const path = svg('path', { d: p.d, class: `line line-${i % 4}`, 'data-series': p.name });
    root.append(path);
  });
  const max = svg('text', { x: '0', y: '-2', class: 'chart-max' });
  max.textContent = formatY(g.yMax);
  root.append(max);
  return root;
}
