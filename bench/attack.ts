/**
 * The `attack` scenario (`npm run bench -- --scenarios attack`, Bulwark over `/ws` only; issue 12):
 * legitimate users chatting at a fixed rate, first alone (baseline), then for the same time
 * while an attacker process (loadgen/attacker.ts) floods the server from other loopback
 * addresses. Reported for both phases of the same run: the users' sends acknowledged and
 * deliveries received, their ack latency, the server's RSS and CPU, the security events stored
 * and the database's growth; for the attack, whether the critical events raised during it reached
 * an admin's connection and how fast; after it, whether the admission gauges went back to zero.
 *
 * Addresses: the attackers use 127.0.0.2–17 (each attack its own, so one attack's ban does not
 * hide another), the users and the admin 127.0.0.18–33. The server runs its defaults except the
 * per-IP numbers 1,000 users on 16 addresses need, and with loopback addresses bannable (see
 * `attackConfig`; bench/README.md documents both).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { ConfigSchema, DEFAULT_RATE_LIMITS } from '../src/config/schema.js';
import { mergeHists, type SparseHist } from './lib/hist.js';
import { Worker, cpuMicros, rssBytes, sleep } from './lib/proc.js';
import { round } from './lib/stats.js';
import type { AttackPlan, AttackerInit } from './loadgen/attacker.js';

type Json = Record<string, unknown>;

const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `127.0.0.${from + i}`);

/** Users and the admin: 127.0.0.18–33. */
export const USER_ADDRESSES = range(18, 33);
/** Attackers: 127.0.0.2–17, split by attack. */
export const ATTACK_ADDRESSES: AttackerInit['addresses'] = {
  flood: range(2, 4),
  noauth: range(5, 8),
  malformed: range(9, 11),
  csp: range(12, 13),
  xss: range(14, 14),
  critical: range(15, 17),
};

const DEFAULTS = ConfigSchema.parse({});
/** Per-IP numbers sized for the users: 1,000 users (and an admin) on 16 addresses, ~63 each. */
const USER_PER_IP = { connections: 100, handshakes: 100, handshakeWindowMs: 10_000 };

/**
 * Merged over the bench configuration: every limit the bench raises elsewhere goes back to its
 * default, except what the users need (`limits.maxConnectionsPerIp` 100, `rateLimits.handshake`
 * 100 per 10 s; one address carries ~63 users here, where a real one carries a handful), and
 * `abuse.banProxyIps` (loopback is exempt from IP bans by default, for a local reverse proxy;
 * here the attackers are loopback addresses, as real ones never are).
 */
export function attackConfig(): Json {
  return {
    limits: { maxConnections: DEFAULTS.limits.maxConnections, maxConnectionsPerIp: USER_PER_IP.connections },
    rateLimits: { ...DEFAULT_RATE_LIMITS, handshake: { points: USER_PER_IP.handshakes, durationMs: USER_PER_IP.handshakeWindowMs } },
    abuse: { banProxyIps: true },
    // The refresh_reuse trigger registers an account; registration is by invitation by default.
    accounts: { registration: 'open' },
  };
}

export interface AttackParams {
  users: number;
  rooms: number;
  messagesPerSec: number;
  warmupMs: number;
  /** Length of the baseline and of the attack phase. */
  phaseMs: number;
  /** The users chat on this long after the attack, to show the server recovered. */
  recoveryMs: number;
  /** Critical events raised during the attack (at even intervals). */
  triggers: number;
  /** Longest wait for the admission gauges to return to zero after the attack. */
  gaugeWaitMs: number;
  plan: Omit<AttackPlan, 'durationMs'>;
}

export const ATTACK_PARAMS = {
  full: {
    users: 1000,
    rooms: 100,
    messagesPerSec: 200,
    warmupMs: 3000,
    phaseMs: 30_000,
    recoveryMs: 10_000,
    triggers: 3,
    gaugeWaitMs: 25_000,
    plan: { floodPerSec: 300, noauthTotal: 5000, malformedPerSec: 300, cspPerSec: 200, xssPerSec: 2 },
  },
  quick: {
    users: 1000,
    rooms: 100,
    messagesPerSec: 200,
    warmupMs: 2000,
    phaseMs: 10_000,
    recoveryMs: 5000,
    triggers: 3,
    gaugeWaitMs: 25_000,
    plan: { floodPerSec: 300, noauthTotal: 5000, malformedPerSec: 300, cspPerSec: 200, xssPerSec: 2 },
  },
} satisfies Record<string, AttackParams>;

export interface AttackCtx {
  server: { pid: number; port: number };
  workers: Worker[];
  secret: string;
  /** The server's directory (its data directory is `<dir>/data`). */
  dir: string;
  loadgenCpu: string | undefined;
  log(line: string): void;
}

export interface AttackOut {
  value: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerOp: number;
  extra: Json;
}

const MiB = 2 ** 20;
const PHASE = { warmup: 0, baseline: 1, attack: 2, after: 3, drain: 4 } as const;

// ---------------------------------------------------------------- readings

/** The server's `/metrics`, scraped from loopback (allowed without a token). */
async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** Sum of every series of one metric, or per value of one label. */
function series(text: string, name: string): { total: number; by: Record<string, number> } {
  const by: Record<string, number> = {};
  let total = 0;
  const re = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const value = Number(m[2]);
    if (!Number.isFinite(value)) continue;
    total += value;
    const label = /(?:type|transport)="([^"]*)"/.exec(m[1] ?? '')?.[1];
    if (label !== undefined) by[label] = (by[label] ?? 0) + value;
  }
  return { total, by };
}

interface DbReading {
  /** Logical size (page_count × page_size, the WAL's committed pages included). */
  bytes: number;
  /** bulwark.db + -wal + -shm on disk. */
  fileBytes: number;
  securityEventRows: number;
  /** Sum of the rows' `count` (events the rows stand for). */
  securityEventCount: number;
  /** Pages of security_events and its indexes (dbstat), NaN when unavailable. */
  securityEventBytes: number;
  messages: number;
  bans: number;
}

function readDb(dir: string): DbReading {
  const file = join(dir, 'data', 'bulwark.db');
  const size = (p: string): number => (existsSync(p) ? statSync(p).size : 0);
  const fileBytes = size(file) + size(`${file}-wal`) + size(`${file}-shm`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    const pages = Number(db.pragma('page_count', { simple: true }));
    const ev = db.prepare('SELECT COUNT(*) AS rows, COALESCE(SUM(count), 0) AS events FROM security_events').get() as { rows: number; events: number };
    let securityEventBytes = Number.NaN;
    try {
      const r = db.prepare("SELECT COALESCE(SUM(pgsize), 0) AS b FROM dbstat WHERE name = 'security_events' OR name LIKE 'security_events_%'").get() as { b: number };
      securityEventBytes = r.b;
    } catch {
      // SQLite built without the dbstat table: the logical size says enough.
    }
    const messages = (db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
    const bans = (db.prepare('SELECT COUNT(*) AS n FROM bans').get() as { n: number }).n;
    return { bytes: pageSize * pages, fileBytes, securityEventRows: ev.rows, securityEventCount: ev.events, securityEventBytes, messages, bans };
  } finally {
    db.close();
  }
}

interface PhaseSamples {
  startMiB: number;
  peakMiB: number;
  endMiB: number;
  /** The server's longest event-loop delay in the phase (prom-client's monitor, reset at each scrape). */
  loopDelayMaxMs: number;
  /** The highest per-second p99 of the event-loop delay. */
  loopDelayP99Ms: number;
  /** V8 heap in use at the start and the end of the phase. */
  heapStartMiB: number;
  heapEndMiB: number;
}

const heapMiB = (text: string): number => round(series(text, 'nodejs_heap_size_used_bytes').total / MiB);

/** Samples the server's RSS every 250 ms and its event-loop delay every second, until stopped. */
async function phaseSampler(pid: number, port: number): Promise<{ stop(): Promise<PhaseSamples> }> {
  // Also resets the event-loop delay histogram: the phase's own delays from here.
  const heapStart = heapMiB(await scrape(port));
  const start = rssBytes(pid);
  let heapEnd = heapStart;
  let peak = start;
  let loopMax = 0;
  let loopP99 = 0;
  const lag = async (): Promise<void> => {
    const text = await scrape(port).catch(() => '');
    if (text) heapEnd = heapMiB(text);
    loopMax = Math.max(loopMax, series(text, 'nodejs_eventloop_lag_max_seconds').total * 1000);
    loopP99 = Math.max(loopP99, series(text, 'nodejs_eventloop_lag_p99_seconds').total * 1000);
  };
  let ticks = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
    if (++ticks % 4 === 0) void lag();
  }, 250);
  return {
    async stop() {
      clearInterval(timer);
      await lag();
      const end = rssBytes(pid);
      return {
        startMiB: round(start / MiB),
        peakMiB: round(Math.max(peak, end) / MiB),
        endMiB: round(end / MiB),
        loopDelayMaxMs: round(loopMax),
        loopDelayP99Ms: round(loopP99),
        heapStartMiB: heapStart,
        heapEndMiB: heapEnd,
      };
    },
  };
}

interface PhaseCounts {
  loopP99Ms: number;
  loopMaxMs: number;
  sent: number;
  acked: number;
  errors: number;
  unsendable: number;
  errorCodes: Record<string, number>;
  deliveries: number;
  ack: SparseHist;
  delivery: SparseHist;
}

interface ChatReport {
  dropped: number;
  open: number;
  inflight: number;
  phases: PhaseCounts[];
}

interface PhaseMark {
  t: number;
  cpu: number;
  loadgenCpu: number;
  db: DbReading;
  events: Record<string, number>;
  dropped: number;
}

// ---------------------------------------------------------------- the scenario

export async function attackScenario(ctx: AttackCtx, P: AttackParams): Promise<AttackOut> {
  const { server, workers, secret, log } = ctx;
  const call = <T = Json>(op: string, args: (w: number) => Json = () => ({}), timeoutMs?: number): Promise<T[]> =>
    Promise.all(workers.map((w, i) => w.call<T>(op, args(i), timeoutMs)));
  const loadgenCpu = (): number => workers.reduce((a, w) => a + cpuMicros(w.child.pid!), 0) + cpuMicros(attacker.child.pid!);

  await call('init', (w) => ({ protocol: 'bulwark', port: server.port, secret, localAddresses: USER_ADDRESSES, workerIndex: w }));
  const attacker = new Worker('loadgen/attacker.ts', ctx.loadgenCpu);
  try {
    await attacker.call('init', { port: server.port, secret, addresses: ATTACK_ADDRESSES, xssRoom: 'atk-0' } satisfies AttackerInit as unknown as Json);
    const prepared = await attacker.call<{ accounts: number; problem?: string }>('prepare', { rounds: P.triggers }, 60_000);
    if (prepared.problem) log(`[bench]   attack: refresh_reuse cannot be triggered (${prepared.problem}); refresh_subject_mismatch only`);

    // The admin first, then the users, 16 handshakes at a time per worker.
    await workers[0]!.call('admin.connect', { user: 'bench-admin' });
    const dealt: string[][] = workers.map(() => []);
    for (let i = 0; i < P.users; i++) dealt[i % workers.length]!.push(`user${i}`);
    const connected = await call<{ ok: number; failed: number; failures: string[] }>(
      'connect',
      (w) => ({ tag: 'chat', users: dealt[w], concurrency: 16, timeoutMs: 120_000 }),
      150_000,
    );
    const failed = connected.reduce((a, r) => a + r.failed, 0);
    if (failed > 0)
      throw new Error(
        `attack: ${failed}/${P.users} users could not connect: ${connected
          .flatMap((r) => r.failures)
          .slice(0, 3)
          .join(' | ')}`,
      );
    const created = await call<{ acked: number; errors: string[] }>('chat.create', () => ({ rooms: P.rooms, workers: workers.length }));
    const createErrors = created.flatMap((r) => r.errors);
    if (createErrors.length) throw new Error(`attack rooms: ${createErrors[0]}`);
    const joined = await call<{ acked: number; errors: string[] }>('chat.join', () => ({ rooms: P.rooms, workers: workers.length }));
    const joins = joined.reduce((a, r) => a + r.acked, 0);
    if (joins !== P.users) throw new Error(`attack: ${joins}/${P.users} joins acknowledged: ${joined.flatMap((r) => r.errors)[0] ?? ''}`);
    const members = P.users / P.rooms;

    const intervalMs = (P.users / P.messagesPerSec) * 1000;
    await call('chat.start', () => ({ intervalMs }));
    log(
      `[bench]   attack: ${P.users} users in ${P.rooms} rooms of ${members} from ${USER_ADDRESSES[0]}-${USER_ADDRESSES.at(-1)}, ${P.messagesPerSec} msgs/s; baseline ${P.phaseMs / 1000} s, then the same under attack from 127.0.0.2-17`,
    );
    await sleep(P.warmupMs);

    const mark = async (phase: number): Promise<PhaseMark> => {
      const replies = await call<{ dropped: number }>('chat.phase', () => ({ phase }));
      return {
        t: performance.now(),
        cpu: cpuMicros(server.pid),
        loadgenCpu: loadgenCpu(),
        db: readDb(ctx.dir),
        events: series(await scrape(server.port), 'bulwark_security_events_total').by,
        dropped: replies.reduce((a, r) => a + r.dropped, 0),
      };
    };

    // Baseline.
    const b0 = await mark(PHASE.baseline);
    const baseRss = await phaseSampler(server.pid, server.port);
    await sleep(P.phaseMs);
    const baseRssOut = await baseRss.stop();

    // Attack.
    const a0 = await mark(PHASE.attack);
    const attackRss = await phaseSampler(server.pid, server.port);
    await attacker.call('start', { durationMs: P.phaseMs, ...P.plan } satisfies AttackPlan as unknown as Json);
    const triggers: Json[] = [];
    for (let k = 0; k < P.triggers; k++) {
      const at = ((k + 1) * P.phaseMs) / (P.triggers + 1);
      await sleep(Math.max(0, at - (performance.now() - a0.t)));
      const r = await attacker.call<{ triggers: Json[] }>('trigger', { round: k }, 20_000);
      triggers.push(...r.triggers);
    }
    await sleep(Math.max(0, P.phaseMs - (performance.now() - a0.t)));
    const a1 = await mark(PHASE.after);
    const attackRssOut = await attackRss.stop();
    const recoveryRss = await phaseSampler(server.pid, server.port);
    const traffic = await attacker.call<{ stats: Record<string, Record<string, number>>; heldPeak: number; heldAtStop: number }>('stop', {}, 30_000);

    // After: the attacker's sockets are gone, so the admission gauges must go back to zero; the
    // users chat on for `recoveryMs`, then stop, and their last replies and deliveries arrive.
    const tGauge = performance.now();
    let gauges = { pendingHandshakes: Number.NaN, pendingAuth: Number.NaN, authenticated: Number.NaN };
    let gaugeZeroMs = Number.NaN;
    while (performance.now() - tGauge < P.gaugeWaitMs) {
      const text = await scrape(server.port);
      gauges = {
        pendingHandshakes: series(text, 'bulwark_pending_handshakes').total,
        pendingAuth: series(text, 'bulwark_pending_auth_connections').total,
        authenticated: series(text, 'bulwark_authenticated_connections').total,
      };
      if (gauges.pendingHandshakes === 0 && gauges.pendingAuth === 0) {
        gaugeZeroMs = performance.now() - tGauge;
        break;
      }
      await sleep(250);
    }
    await sleep(Math.max(0, P.recoveryMs - (performance.now() - a1.t)));
    const r1 = await mark(PHASE.drain);
    const recoveryOut = await recoveryRss.stop();
    const stopped = await call<ChatReport>('chat.stop', () => ({}), 30_000);
    await sleep(500);
    const finalReports = await call<ChatReport>('chat.report');
    const rssAfterMiB = round(rssBytes(server.pid) / MiB);
    const heapAfterMiB = heapMiB(await scrape(server.port));
    const dbAfter = readDb(ctx.dir);
    const adminReport = await workers[0]!.call<{
      open: boolean;
      alertCounts: Record<string, number>;
      criticalAlerts: Json[];
      suppressedAlerts: number;
      firstAlerts: Record<string, Json>;
    }>('admin.report');

    // ---- figures
    const phaseOf = (reports: ChatReport[], p: number): PhaseCounts => {
      const parts = reports.map((r) => r.phases[p]!);
      const codes: Record<string, number> = {};
      for (const part of parts) for (const [c, n] of Object.entries(part.errorCodes)) codes[c] = (codes[c] ?? 0) + n;
      const sum = (k: 'sent' | 'acked' | 'errors' | 'unsendable' | 'deliveries'): number => parts.reduce((a, x) => a + x[k], 0);
      return {
        // The worse of the two workers.
        loopP99Ms: Math.max(...parts.map((x) => x.loopP99Ms)),
        loopMaxMs: Math.max(...parts.map((x) => x.loopMaxMs)),
        sent: sum('sent'),
        acked: sum('acked'),
        errors: sum('errors'),
        unsendable: sum('unsendable'),
        errorCodes: codes,
        deliveries: sum('deliveries'),
        ack: parts.flatMap((x) => x.ack),
        delivery: parts.flatMap((x) => x.delivery),
      };
    };
    const eventsBetween = (from: PhaseMark, to: PhaseMark): { total: number; byType: Record<string, number> } => {
      const byType: Record<string, number> = {};
      let total = 0;
      for (const [type, n] of Object.entries(to.events)) {
        const d = n - (from.events[type] ?? 0);
        if (d > 0) {
          byType[type] = d;
          total += d;
        }
      }
      return { total, byType };
    };
    const summary = (p: number, from: PhaseMark, to: PhaseMark, rss: PhaseSamples): Json => {
      const c = phaseOf(finalReports, p);
      const ack = mergeHists([c.ack]);
      const delivery = mergeHists([c.delivery]);
      const seconds = (to.t - from.t) / 1000;
      const events = eventsBetween(from, to);
      return {
        seconds: round(seconds),
        sent: c.sent,
        acked: c.acked,
        errors: c.errors,
        errorCodes: c.errorCodes,
        unsendable: c.unsendable,
        ackedFraction: c.sent > 0 ? c.acked / c.sent : Number.NaN,
        deliveries: c.deliveries,
        expectedDeliveries: c.acked * members,
        deliveredFraction: c.acked > 0 ? c.deliveries / (c.acked * members) : Number.NaN,
        ackP50Ms: round(ack.quantile(0.5)),
        ackP99Ms: round(ack.quantile(0.99)),
        ackMaxMs: round(ack.quantile(1)),
        deliveryP99Ms: round(delivery.quantile(0.99)),
        ackedPerSec: round(c.acked / seconds),
        usersDropped: to.dropped - from.dropped,
        serverCpuShare: round((to.cpu - from.cpu) / (seconds * 1e6)),
        loadgenCpuShare: round((to.loadgenCpu - from.loadgenCpu) / (seconds * 1e6)),
        rssStartMiB: rss.startMiB,
        rssPeakMiB: rss.peakMiB,
        rssEndMiB: rss.endMiB,
        loopDelayMaxMs: rss.loopDelayMaxMs,
        usersLoopDelayP99Ms: round(c.loopP99Ms),
        usersLoopDelayMaxMs: round(c.loopMaxMs),
        loopDelayP99Ms: rss.loopDelayP99Ms,
        heapStartMiB: rss.heapStartMiB,
        heapEndMiB: rss.heapEndMiB,
        dbGrowthBytes: to.db.bytes - from.db.bytes,
        dbFileGrowthBytes: to.db.fileBytes - from.db.fileBytes,
        securityEventBytesGrowth: to.db.securityEventBytes - from.db.securityEventBytes,
        messagesStored: to.db.messages - from.db.messages,
        securityEventRowsAtEnd: to.db.securityEventRows,
        securityEventRowsAdded: to.db.securityEventRows - from.db.securityEventRows,
        securityEventsEmitted: events.total,
        securityEventsByType: events.byType,
        bansAdded: to.db.bans - from.db.bans,
      };
    };
    const baseline = summary(PHASE.baseline, b0, a0, baseRssOut);
    const attack = summary(PHASE.attack, a0, a1, attackRssOut);
    const recovery = summary(PHASE.after, a1, r1, recoveryOut);

    // Each trigger and its alert at the admin's connection (same type, same user).
    const criticals = adminReport.criticalAlerts;
    const alerts = triggers.map((t) => {
      const got = criticals.find((a) => a['type'] === t['type'] && a['user'] === t['user']);
      if (t['sentAt'] === undefined || !got) return { ...t, delivered: false };
      return {
        type: t['type'],
        user: t['user'],
        delivered: true,
        raiseToAdminMs: round(Number(got['receivedAt']) - Number(t['sentAt'])),
        serverToAdminMs: round(Number(got['receivedAt']) - Number(got['ts'])),
      };
    });
    const measured = alerts.filter((a) => a.delivered);
    // Server CPU the attack cost: the attack phase's over the baseline's rate, per attacker request sent.
    const attackRequests = Object.values(traffic.stats).reduce((a, c) => a + (c['attempts'] ?? 0) + (c['vectors sent'] ?? 0), 0);
    const extraCpuUs = a1.cpu - a0.cpu - ((a0.cpu - b0.cpu) / (a0.t - b0.t)) * (a1.t - a0.t);
    const worstAlertMs = measured.length ? Math.max(...measured.map((a) => Number((a as Json)['raiseToAdminMs']))) : Number.NaN;
    const attempted = alerts.filter((a) => (a as Json)['error'] === undefined).length;

    const after = {
      pendingHandshakes: gauges.pendingHandshakes,
      pendingAuth: gauges.pendingAuth,
      authenticated: gauges.authenticated,
      usersOpen: stopped.reduce((a, r) => a + r.open, 0),
      zeroAfterMs: Number.isFinite(gaugeZeroMs) ? round(gaugeZeroMs) : null,
      rssMiB: rssAfterMiB,
      heapMiB: heapAfterMiB,
      securityEventRows: dbAfter.securityEventRows,
      securityEventCount: dbAfter.securityEventCount,
      dbBytes: dbAfter.bytes,
      bans: dbAfter.bans,
    };
    log(
      `[bench]   attack: baseline ${fmtPhase(baseline)}\n[bench]   attack: under attack ${fmtPhase(attack)}\n[bench]   attack: after ${fmtPhase(recovery)}\n` +
        `[bench]   attack: critical alerts ${measured.length}/${alerts.length} at the admin${measured.length ? `, worst ${worstAlertMs} ms from the request` : ''}; ` +
        `after: pending handshakes ${gauges.pendingHandshakes}, pending auth ${gauges.pendingAuth}${after.zeroAfterMs !== null ? ` (zero ${after.zeroAfterMs} ms after the attacker stopped)` : ' (not zero)'}, authenticated ${gauges.authenticated}, RSS ${rssAfterMiB} MiB, ${dbAfter.securityEventRows} security_events rows`,
    );
    log(`[bench]   attack traffic: ${JSON.stringify(traffic.stats)} (never-authenticated sockets held at once: peak ${traffic.heldPeak})`);
    log(`[bench]   alerts at the admin by type: ${JSON.stringify(adminReport.alertCounts)} (${adminReport.suppressedAlerts} summarised as suppressed)`);

    return {
      value: Number(attack['ackedPerSec']),
      p50Ms: Number(attack['ackP50Ms']),
      p99Ms: Number(attack['ackP99Ms']),
      cpuUsPerOp: ((a1.cpu - a0.cpu) / Math.max(1, Number(attack['acked']))) as number,
      extra: {
        users: P.users,
        rooms: P.rooms,
        offeredMsgsPerSec: P.messagesPerSec,
        phaseSeconds: P.phaseMs / 1000,
        plan: P.plan,
        baseline,
        attack,
        recovery,
        recoverySeconds: P.recoveryMs / 1000,
        after,
        alerts,
        criticalAlertsDelivered: measured.length,
        criticalAlertsRaised: attempted,
        worstCriticalAlertMs: worstAlertMs,
        alertsAtAdmin: adminReport.alertCounts,
        alertsSuppressed: adminReport.suppressedAlerts,
        // What the flooder's text looks like to the admin: the CSP report's blocked-uri must sit under detail.untrusted.
        cspAlertAsSeen: adminReport.firstAlerts['csp_violation'] ?? null,
        attackRequests,
        serverUsPerAttackRequest: round(extraCpuUs / Math.max(1, attackRequests)),
        adminStillOpen: adminReport.open,
        refreshReuse: prepared.problem ? `not triggered: ${prepared.problem}` : 'triggered',
        traffic: { ...traffic.stats, noauthHeldPeak: traffic.heldPeak },
        auditMaxRows: DEFAULTS.audit.maxRows,
        addresses: { users: `${USER_ADDRESSES[0]}-${USER_ADDRESSES.at(-1)}`, ...Object.fromEntries(Object.entries(ATTACK_ADDRESSES).map(([k, v]) => [k, v.join(',')])) },
      },
    };
  } finally {
    await attacker.exit();
  }
}

function fmtPhase(p: Json): string {
  const pct = (x: unknown): string => `${round(Number(x) * 100)} %`;
  return (
    `${p['acked']}/${p['sent']} acked (${pct(p['ackedFraction'])}), ${p['deliveries']}/${p['expectedDeliveries']} delivered (${pct(p['deliveredFraction'])}), ` +
    `ack p50 ${p['ackP50Ms']} ms p99 ${p['ackP99Ms']} ms, server CPU ${pct(p['serverCpuShare'])}, RSS ${p['rssStartMiB']} -> peak ${p['rssPeakMiB']} MiB, ` +
    `db +${round(Number(p['dbGrowthBytes']) / MiB)} MB, ${p['securityEventsEmitted']} security events -> ${p['securityEventRowsAdded']} rows`
  );
}
