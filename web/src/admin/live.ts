/**
 * Live numbers of the node serving the console, sampled every 2 s: open connections, messages
 * received per second, refusals per minute by reason. The server sends cumulative counters; rates
 * come from two readings. Charts are inline SVG drawn with presentation attributes and classes
 * (the CSP forbids inline styles), the last two minutes of samples.
 */
import { h } from '../dom.js';
import type { AdminApi } from './api.js';
import { panel } from './ui.js';

interface Reading {
  ts: number;
  node: string;
  connections: number;
  messages: number;
  refusals: Record<string, number>;
}

const SVG = 'http://www.w3.org/2000/svg';
const KEEP = 60;
const W = 240;
const H = 56;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** A sparkline of values (oldest first) in a fixed box; a flat line at 0 when all are 0. */
function sparkline(values: number[], label: string): SVGSVGElement {
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label });
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? W / (KEEP - 1) : 0;
  const offset = W - step * (values.length - 1);
  const points = values.map((v, i) => `${(offset + i * step).toFixed(1)},${(H - 2 - (v / max) * (H - 6)).toFixed(1)}`);
  chart.append(svg('line', { x1: '0', y1: String(H - 1), x2: String(W), y2: String(H - 1), class: 'chart__axis' }));
  if (points.length > 1) chart.append(svg('polyline', { points: points.join(' '), class: 'chart__line', fill: 'none' }));
  else if (points.length === 1) chart.append(svg('circle', { cx: String(W - 2), cy: points[0]!.split(',')[1]!, r: '2', class: 'chart__dot' }));
  return chart;
}

/** Horizontal bars, one per reason. */
function bars(entries: Array<[string, number]>, label: string): SVGSVGElement {
  const rowH = 16;
  const height = Math.max(1, entries.length) * rowH;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${height}`, class: 'chart chart--bars', role: 'img', 'aria-label': label });
  const max = Math.max(1, ...entries.map(([, n]) => n));
  entries.forEach(([reason, n], i) => {
    const y = i * rowH;
    chart.append(svg('rect', { x: '110', y: String(y + 3), width: String(Math.max(1, ((W - 150) * n) / max)), height: String(rowH - 6), class: 'chart__bar' }));
    const name = svg('text', { x: '0', y: String(y + rowH - 4), class: 'chart__label' });
    name.textContent = reason.length > 18 ? `${reason.slice(0, 17)}…` : reason;
    const value = svg('text', { x: String(W), y: String(y + rowH - 4), class: 'chart__value', 'text-anchor': 'end' });
    value.textContent = String(n);
    chart.append(name, value);
  });
  return chart;
}

export function livePanel(api: AdminApi): { element: HTMLElement; refresh(): Promise<void> } {
  const readings: Reading[] = [];
  const tiles = h('div', { class: 'tiles' });
  const note = h('p', { class: 'hint' }, 'Collecting the first readings… numbers update every 2 s.');
  const element = panel('live', 'Live numbers', note, tiles);

  const tile = (title: string, value: string, chart: SVGSVGElement): HTMLElement =>
    h('figure', { class: 'tile' }, h('figcaption', {}, h('span', { class: 'tile__title' }, title), h('strong', { class: 'tile__value' }, value)), chart);

  const render = (): void => {
    const last = readings[readings.length - 1];
    if (!last) return;
    const rates = readings.slice(1).map((r, i) => {
      const prev = readings[i]!;
      return Math.max(0, (r.messages - prev.messages) / Math.max(0.001, (r.ts - prev.ts) / 1000));
    });
    // Refusals counted in the last minute (since the first reading, while there is less than a
    // minute of readings: counted, never extrapolated), by reason.
    const base = readings.find((r) => r.ts >= last.ts - 60_000) ?? readings[0]!;
    const windowS = Math.round((last.ts - base.ts) / 1000);
    const sum = (x: Reading): number => Object.values(x.refusals).reduce((a, b) => a + b, 0);
    const lastMinute = sum(last) - sum(base);
    const byReason = Object.entries(last.refusals)
      .map(([reason, n]): [string, number] => [reason, n - (base.refusals[reason] ?? 0)])
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6);
    const perSample = readings.slice(1).map((r, i) => Math.max(0, sum(r) - sum(readings[i]!)));
    const span = windowS >= 59 ? 'last minute' : `last ${windowS} s`;
    note.textContent =
      readings.length < 2
        ? 'Collecting the first readings… rates appear after two samples (2 s apart).'
        : `Node ${last.node}, sampled every 2 s; charts show the last ${Math.round((last.ts - readings[0]!.ts) / 1000)} s.`;
    tiles.replaceChildren(
      tile(
        'Open connections',
        String(last.connections),
        sparkline(
          readings.map((r) => r.connections),
          'Open connections over time',
        ),
      ),
      tile('Messages / s', rates.length ? (rates[rates.length - 1] ?? 0).toFixed(1) : '–', sparkline(rates, 'Messages received per second over time')),
      tile(`Refusals / min (${span})`, readings.length < 2 ? '–' : String(lastMinute), sparkline(perSample, 'Refusals per 2 s over time')),
      h(
        'figure',
        { class: 'tile tile--wide' },
        h('figcaption', {}, h('span', { class: 'tile__title' }, `Refusals / min by reason (${span})`)),
        byReason.length
          ? bars(byReason, 'Refusals in the last minute by reason')
          : h('p', { class: 'hint' }, readings.length < 2 ? 'Waiting for a second reading.' : `No refusals in the ${span}.`),
      ),
    );
  };

  return {
    element,
    async refresh() {
      const reading = await api.get<Reading>('stats');
      readings.push(reading);
      if (readings.length > KEEP) readings.shift();
      render();
    },
  };
}
