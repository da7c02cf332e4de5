/** Rendering of a benchmark result: the stdout table, the markdown table and the fanout SVG. */

export interface FanoutPoint {
  /** Publisher messages per second. */
  rate: number;
  offeredDeliveriesPerSec: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerOp: number;
  published: number;
  dropped: number;
  /** Deliveries counted in the step / (messages published × subscribers). */
  deliveredFraction: number;
  /** Fraction of one core used by the server / by all load-generator processes in the step. */
  serverCpuShare: number;
  loadgenCpuShare: number;
  runs?: number;
}

type Metric = 'msgsPerSec' | 'deliveriesPerSec' | 'handshakesPerSec' | 'bytesPerConn' | 'framesPerSec';

export interface Row {
  scenario: string;
  system: string;
  metric: Metric;
  runs: number;
  msgsPerSec?: number;
  deliveriesPerSec?: number;
  handshakesPerSec?: number;
  bytesPerConn?: number;
  framesPerSec?: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerOp: number;
  min: Record<string, number>;
  max: Record<string, number>;
  curve?: FanoutPoint[];
  [extra: string]: unknown;
}

export interface Target {
  name: string;
  target: string;
  actual: number | null;
  met: boolean | null;
  /** Why there is no figure ("not meaningful: ..."), or that the figure is a bound. */
  note?: string;
}

export interface BenchResult {
  meta: {
    date: string;
    mode: string;
    runsPerScenario: number;
    pinned: boolean;
    serverCpu: string | null;
    loadgenCpu: string | null;
    cores: number;
    cpu: string;
    node: string;
    commit: string;
    notes: string[];
    [k: string]: unknown;
  };
  echo?: Record<string, Row>;
  fanout?: Record<string, Row>;
  connect?: Record<string, Row>;
  idle?: Record<string, Row>;
  store?: Record<string, Row>;
  soak?: Record<string, Row>;
  attack?: Record<string, Row>;
  api?: Record<string, Row>;
  fuzz?: Record<string, Row>;
  ratios: Record<string, number | null>;
  extraRatios: Record<string, number | null>;
  /** Per ratio: "not meaningful: why" (the ratio is null), or "lower bound: why" / "upper bound: why". */
  ratioNotes?: Record<string, string>;
  targets: Target[];
}

/** A ratio as printed: the number, "not meaningful (why)" instead of a number, or the number marked as a bound. */
export function ratioText(result: BenchResult, key: string, value: number | null): string {
  const note = result.ratioNotes?.[key];
  if (value === null) return note ? `not meaningful (${note.replace(/^not meaningful: /, '')})` : 'n/a';
  if (note?.startsWith('lower bound')) return `>= ${value} (${note})`;
  if (note?.startsWith('upper bound')) return `<= ${value} (${note})`;
  return String(value);
}

function targetActual(t: Target): string {
  if (t.actual === null) return t.note?.startsWith('not meaningful') ? `not meaningful (${t.note.replace(/^not meaningful: /, '')})` : 'n/a';
  return t.note ? `${t.actual} (${t.note})` : String(t.actual);
}

const SCENARIOS = ['echo', 'fanout', 'connect', 'idle', 'store', 'soak', 'attack', 'api', 'fuzz'] as const;
const UNITS: Record<string, string> = {
  echo: 'msgs/s',
  fanout: 'deliveries/s @knee',
  connect: 'handshakes/s',
  idle: 'bytes/conn',
  store: 'stored msgs/s',
  soak: 'acked msgs/s (RSS slope in the notes)',
  attack: 'legitimate acked msgs/s under attack (baseline vs attack below)',
  api: 'API publishes/s (201), HTTP p50/p99',
  fuzz: 'fuzz frames/s',
};

const num = (x: number | undefined, d = 0): string =>
  x === undefined || !Number.isFinite(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const lat = (x: number): string => (!Number.isFinite(x) ? 'n/a' : x < 1 ? num(x, 3) : x < 10 ? num(x, 2) : num(x, 1));

function rows(result: BenchResult): Row[] {
  return SCENARIOS.flatMap((s) => Object.values(result[s] ?? {}));
}

function cells(r: Row): string[] {
  const v = r[r.metric] as number;
  const range = r.runs > 1 ? ` [${num(r.min[r.metric])}–${num(r.max[r.metric])}]` : '';
  const bound = r['kneeBound'] === 'load generator' ? ', load generator bound' : r['kneeBound'] === 'ladder' ? ', top of the ladder' : '';
  const note =
    r.scenario === 'fanout'
      ? ` (${num(r['kneeRate'] as number)} msg/s × ${num(r['subscribers'] as number)}${bound})`
      : r.scenario === 'fuzz'
        ? ` (${num(r['frames'] as number)} frames, ${num(r['connections'] as number)} conns, RSS ${num(r['rssBeforeMB'] as number)}→${num(r['rssAfterMB'] as number)} MB)`
        : '';
  const latNote = r.scenario === 'store' ? ' (history)' : '';
  return [r.scenario, r.system, `${num(v)}${range}${note}`, `${lat(r.p50Ms)}${latNote}`, `${lat(r.p99Ms)}${latNote}`, num(r.serverCpuUsPerOp, 2)];
}

type Json = Record<string, unknown>;
const pct = (x: unknown): string => (Number.isFinite(Number(x)) ? `${num(Number(x) * 100, Number(x) === 1 ? 0 : 2)} %` : 'n/a');
const mb = (x: unknown): string => `${num(Number(x) / 2 ** 20, 2)} MB`;

/** The attack scenario's table: the same users with no attack and under attack (markdown, readable as text). */
export function renderAttack(result: BenchResult): string[] {
  const row = result.attack?.['bulwark'] as (Row & Json) | undefined;
  if (!row) return [];
  const b = row['baseline'] as Json;
  const a = row['attack'] as Json;
  const r = (row['recovery'] as Json | undefined) ?? {};
  const after = row['after'] as Json;
  const both = (label: string, f: (p: Json) => string): string => `| ${label} | ${f(b)} | ${f(a)} | ${row['recovery'] ? f(r) : 'n/a'} |`;
  const alerts = (row['alerts'] as Json[]) ?? [];
  const alertText = alerts
    .map((x) =>
      x['delivered']
        ? `${x['type']} ${lat(Number(x['raiseToAdminMs']))} ms (${lat(Number(x['serverToAdminMs']))} from the event)`
        : `${x['type']} ${x['error'] ? `not raised (${String(x['error']).slice(0, 60)})` : 'NOT delivered'}`,
    )
    .join('; ');
  return [
    `Attack scenario (bulwark, ${num(Number(row['users']))} users in ${num(Number(row['rooms']))} rooms, ${num(Number(row['offeredMsgsPerSec']))} msgs/s offered, ${num(Number(row['phaseSeconds']))} s per phase):`,
    '',
    `| legitimate users and server | baseline (no attack) | under attack | the ${num(Number(row['recoverySeconds']))} s after it |`,
    '| --- | ---: | ---: | ---: |',
    both('sends acknowledged', (p) => `${num(Number(p['acked']))} / ${num(Number(p['sent']))} (${pct(p['ackedFraction'])})`),
    both('deliveries received / expected', (p) => `${num(Number(p['deliveries']))} / ${num(Number(p['expectedDeliveries']))} (${pct(p['deliveredFraction'])})`),
    both('ack latency p50 / p99 / max (ms)', (p) => `${lat(Number(p['ackP50Ms']))} / ${lat(Number(p['ackP99Ms']))} / ${lat(Number(p['ackMaxMs']))}`),
    both('delivery latency p99 (ms)', (p) => lat(Number(p['deliveryP99Ms']))),
    both('users disconnected', (p) => num(Number(p['usersDropped']))),
    both('server CPU (share of one core)', (p) => pct(p['serverCpuShare'])),
    both('load generator CPU (users + attacker)', (p) => pct(p['loadgenCpuShare'])),
    both('server event-loop delay, worst p99 per second / max (ms)', (p) => `${lat(Number(p['loopDelayP99Ms']))} / ${lat(Number(p['loopDelayMaxMs']))}`),
    both("users' workers' event-loop delay, p99 / max (ms)", (p) => `${lat(Number(p['usersLoopDelayP99Ms']))} / ${lat(Number(p['usersLoopDelayMaxMs']))}`),
    both('server RSS start → peak → end (MiB)', (p) => `${num(Number(p['rssStartMiB']), 1)} → ${num(Number(p['rssPeakMiB']), 1)} → ${num(Number(p['rssEndMiB']), 1)}`),
    both('server V8 heap in use start → end (MiB)', (p) => `${num(Number(p['heapStartMiB']), 1)} → ${num(Number(p['heapEndMiB']), 1)}`),
    both('security events emitted → rows stored', (p) => `${num(Number(p['securityEventsEmitted']))} → ${num(Number(p['securityEventRowsAdded']))}`),
    both('database growth (logical; files)', (p) => `${mb(p['dbGrowthBytes'])}; ${mb(p['dbFileGrowthBytes'])}`),
    both('of which security_events pages', (p) => mb(p['securityEventBytesGrowth'])),
    both('IP and user bans added', (p) => num(Number(p['bansAdded']))),
    `| critical alerts at the admin (request sent → alert received) | — | ${alertText || 'none raised'} | — |`,
    `| pending handshakes / pending auth once the attacker stopped | — | — | ${num(Number(after['pendingHandshakes']))} / ${num(Number(after['pendingAuth']))} (${after['zeroAfterMs'] === null ? 'not back to 0' : `0 after ${num(Number(after['zeroAfterMs']))} ms`}) |`,
    `| at the end: RSS, heap, security_events rows | — | — | ${num(Number(after['rssMiB']), 1)} MiB, ${num(Number(after['heapMiB']), 1)} MiB, ${num(Number(after['securityEventRows']))} rows (audit.maxRows ${num(Number(row['auditMaxRows']))}) |`,
    '',
    `Server CPU the attack cost: ${num(Number(row['serverUsPerAttackRequest']))} µs per attacker request (${num(Number(row['attackRequests']))} requests). A CSP report's alert as the admin saw it: ${JSON.stringify(row['cspAlertAsSeen'] ?? null)}`,
    '',
    `Attack traffic (outcome counts): ${Object.entries((row['traffic'] as Json) ?? {})
      .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join('; ')}`,
    '',
  ];
}

export function renderTable(result: BenchResult): string {
  const header = ['scenario', 'system', 'result (median [min–max])', 'p50 ms', 'p99 ms', 'server µs/op'];
  const body = rows(result).map(cells);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i >= 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), ''];
  out.push('units: ' + SCENARIOS.map((s) => `${s} = ${UNITS[s]}`).join(', '));
  const attack = renderAttack(result);
  if (attack.length) out.push('', ...attack);
  out.push('ratios:');
  for (const [k, v] of [...Object.entries(result.ratios), ...Object.entries(result.extraRatios)]) out.push(`  ${k} ${ratioText(result, k, v)}`);
  out.push('targets:');
  for (const t of result.targets) out.push(`  [${t.met === null ? ' n/a' : t.met ? 'MET ' : 'MISS'}] ${t.name}: ${targetActual(t)} (target ${t.target})`);
  out.push(
    `pinning: ${result.meta.pinned ? `server on CPU ${result.meta.serverCpu}, load generator on CPU ${result.meta.loadgenCpu} (taskset)` : 'not pinned'}; ${result.meta.mode} mode, ${result.meta.runsPerScenario} run(s)`,
  );
  for (const n of result.meta.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

export function renderMarkdown(result: BenchResult): string {
  const date = result.meta.date.slice(0, 10);
  const out = [
    `### ${date} — ${result.meta.mode} run, commit ${result.meta.commit}, ${result.meta.pinned ? `pinned (server CPU ${result.meta.serverCpu}, load generator CPU ${result.meta.loadgenCpu})` : 'not pinned'}`,
    '',
    '| scenario | system | result (median [min–max]) | p50 ms | p99 ms | server µs/op |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...rows(result).map((r) => `| ${cells(r).join(' | ')} |`),
    '',
    ...renderAttack(result),
    `Ratios: ${Object.entries(result.ratios)
      .map(([k, v]) => `\`${k}\` ${ratioText(result, k, v)}`)
      .join(', ')}; ${Object.entries(result.extraRatios)
      .map(([k, v]) => `\`${k}\` ${ratioText(result, k, v)}`)
      .join(', ')}.`,
    '',
    '| target | actual | met |',
    '| --- | ---: | :---: |',
    ...result.targets.map((t) => `| ${t.name} (${t.target}) | ${targetActual(t)} | ${t.met === null ? 'n/a' : t.met ? 'yes' : '**no**'} |`),
    '',
    ...result.meta.notes.map((n) => `Note: ${n}`),
  ];
  return `${out.join('\n')}\n`;
}

const COLORS: Record<string, string> = { bulwark: '#1f6feb', 'raw-ws': '#6e7781', 'socketio-seed': '#d4472a', 'bulwark-socketio': '#2da44e', 'socketio-seed-store': '#bf8700' };

/** Hand-written SVG: p99 delivery latency against offered deliveries/s, log-log, one line per system. */
export function renderSvg(result: BenchResult): string {
  const series = Object.values(result.fanout ?? {}).filter((r) => r.curve && r.curve.length > 0);
  const W = 760;
  const H = 440;
  const m = { l: 70, r: 180, t: 40, b: 55 };
  const pts = series.flatMap((s) => s.curve!);
  const xs = pts.map((p) => p.offeredDeliveriesPerSec).filter((x) => x > 0);
  const xMin = Math.min(...xs, 10_000);
  const xMax = Math.max(...xs, 100_000);
  const yMin = 0.1;
  const yMax = Math.max(1000, ...pts.map((p) => (Number.isFinite(p.p99Ms) ? p.p99Ms : 0)));
  const lx0 = Math.log10(xMin) - 0.05;
  const lx1 = Math.log10(xMax) + 0.05;
  const ly0 = Math.log10(yMin);
  const ly1 = Math.log10(yMax);
  const X = (x: number): number => m.l + ((Math.log10(x) - lx0) / (lx1 - lx0)) * (W - m.l - m.r);
  const Y = (y: number): number => H - m.b - ((Math.log10(Math.max(yMin, y)) - ly0) / (ly1 - ly0)) * (H - m.t - m.b);
  const el: string[] = [];
  el.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  el.push(
    `<text x="${m.l}" y="22" font-size="15" font-weight="bold">Fanout: p99 delivery latency vs offered load (1 room, ${series[0]?.['subscribers'] ?? 1000} subscribers)</text>`,
  );
  // Grid: decades.
  for (let d = Math.ceil(lx0); d <= Math.floor(lx1); d++) {
    const x = X(10 ** d);
    el.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#eee"/>`);
    el.push(`<text x="${x}" y="${H - m.b + 18}" font-size="11" text-anchor="middle">${(10 ** d).toLocaleString('en-US')}</text>`);
  }
  for (let d = Math.ceil(ly0); d <= Math.floor(ly1); d++) {
    const y = Y(10 ** d);
    el.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#eee"/>`);
    el.push(`<text x="${m.l - 6}" y="${y + 4}" font-size="11" text-anchor="end">${10 ** d >= 1 ? 10 ** d : (10 ** d).toFixed(1)}</text>`);
  }
  el.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`);
  el.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 15}" font-size="12" text-anchor="middle">offered deliveries/s (publisher rate × subscribers), log</text>`);
  el.push(`<text x="18" y="${(m.t + H - m.b) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 18 ${(m.t + H - m.b) / 2})">p99 latency, ms (log)</text>`);
  const ky = Y(100);
  el.push(`<line x1="${m.l}" y1="${ky}" x2="${W - m.r}" y2="${ky}" stroke="#000" stroke-dasharray="5,4"/>`);
  el.push(`<text x="${W - m.r - 4}" y="${ky - 5}" font-size="11" text-anchor="end">knee: p99 = 100 ms</text>`);
  series.forEach((s, i) => {
    const color = COLORS[s.system] ?? ['#8250df', '#bf8700'][i % 2]!;
    const curve = s.curve!.filter((p) => Number.isFinite(p.p99Ms));
    const path = curve.map((p) => `${X(p.offeredDeliveriesPerSec).toFixed(1)},${Y(p.p99Ms).toFixed(1)}`).join(' ');
    el.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2.5"/>`);
    for (const p of curve) {
      el.push(
        `<circle cx="${X(p.offeredDeliveriesPerSec).toFixed(1)}" cy="${Y(p.p99Ms).toFixed(1)}" r="3.5" fill="${color}"><title>${s.system}: ${p.rate} msg/s → ${Math.round(p.deliveriesPerSec).toLocaleString('en-US')} deliveries/s, p99 ${p.p99Ms} ms</title></circle>`,
      );
    }
    const ly = m.t + 20 + i * 40;
    el.push(`<line x1="${W - m.r + 15}" y1="${ly}" x2="${W - m.r + 40}" y2="${ly}" stroke="${color}" stroke-width="2.5"/>`);
    el.push(`<text x="${W - m.r + 46}" y="${ly + 4}" font-size="12">${s.system}</text>`);
    el.push(`<text x="${W - m.r + 46}" y="${ly + 19}" font-size="10" fill="#555">knee ${Math.round(Number(s.deliveriesPerSec ?? 0)).toLocaleString('en-US')}/s</text>`);
  });
  el.push(
    `<text x="${m.l}" y="${H - 2}" font-size="10" fill="#555">${result.meta.date.slice(0, 10)} · ${result.meta.mode} run · ${result.meta.pinned ? 'server and load generator pinned to separate cores' : 'not pinned'} · medians of ${result.meta.runsPerScenario} run(s)</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n${el.join('\n')}\n</svg>\n`;
}
