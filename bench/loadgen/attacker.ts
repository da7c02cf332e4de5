/**
 * The attack scenario's attacker (bench/attack.ts): one process, apart from the load generator's
 * users so that attack work never runs in their event loops, driven over IPC like them. Every
 * attack is paced, capped in count (rate × duration, or an explicit total) and in sockets in
 * flight, every wait is bounded in time, and every connection goes to the server on loopback
 * from the attack's own loopback source addresses.
 *
 * Attacks, each from its own addresses (so that a ban earned by one does not hide the others):
 * - `flood`: valid upgrades (`/ws` and `/socket.io/`) dropped right after `101`;
 * - `noauth`: valid upgrades held open and never authenticated, `noauthTotal` of them;
 * - `malformed`: raw-TCP upgrades that are not valid (bad key, version 12, duplicated headers,
 *   HTTP/1.0, no `Upgrade`) and valid ones aborted mid-request, before the answer, or reset;
 * - `csp`: `POST /api/csp-report`, same-origin, cross-origin and without `Origin`, with a body
 *   that chooses the alert text (`blocked-uri` pointing at a fake "rotate your keys" page);
 * - `xss`: an authenticated user in a legitimate room sending XSS vectors, reconnecting when closed;
 * - `trigger`: a real critical event on demand (`refresh_subject_mismatch` over `/ws`,
 *   `refresh_reuse` over `/api/auth/refresh`), timed at the moment its request leaves.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { benchToken } from '../lib/jwt.js';
import { LiteWs } from './lite-ws.js';
import { ACTIVE_VECTORS } from '../../test/fixtures/xss-vectors.js';

type Json = Record<string, unknown>;
type Counts = Record<string, number>;

export interface AttackerInit {
  port: number;
  secret: string;
  addresses: { flood: string[]; noauth: string[]; malformed: string[]; csp: string[]; xss: string[]; critical: string[] };
  /** Room the XSS prober joins (a legitimate users' room). */
  xssRoom: string;
}

export interface AttackPlan {
  durationMs: number;
  floodPerSec: number;
  noauthTotal: number;
  malformedPerSec: number;
  cspPerSec: number;
  xssPerSec: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Longest wait for any answer of the server. */
const ANSWER_MS = 5000;
/** Sockets one attack may have in flight (answers pending); past it, a due attempt is skipped. */
const MAX_IN_FLIGHT = 256;

let init: AttackerInit;
let origin = '';
let running = false;
const stats: Record<string, Counts> = {};
/** Sockets held open by the never-authenticating attack, and their peak. */
const held = new Set<Socket>();
let heldPeak = 0;
const all = new Set<Socket>();
const loops: Array<Promise<void>> = [];
const agents: http.Agent[] = [];

function count(kind: string, outcome: string, n = 1): void {
  const c = (stats[kind] ??= {});
  c[outcome] = (c[outcome] ?? 0) + n;
}

const key = (): string => randomBytes(16).toString('base64');

function upgradeLines(path: string, extra: string[] = [], opts: { version?: string; http?: string; wsKey?: string } = {}): string[] {
  return [
    `GET ${path} HTTP/${opts.http ?? '1.1'}`,
    `Host: 127.0.0.1:${init.port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${opts.wsKey ?? key()}`,
    `Sec-WebSocket-Version: ${opts.version ?? '13'}`,
    `Origin: ${origin}`,
    ...extra,
  ];
}

const WS = (): string[] => upgradeLines('/ws', ['Sec-WebSocket-Protocol: bulwark.v1']);
const SIO_PATH = '/socket.io/?EIO=4&transport=websocket';

/**
 * How the server ended a held connection, from the frames in `buf` (server frames are unmasked):
 * the code of a close frame, or on `/socket.io/` the `closeCode` of a `connect_error` packet
 * (`44{...}`; engine.io then closes the WebSocket without a code). Undefined while neither came.
 */
function closeCodeIn(buf: Buffer): string | undefined {
  let off = 0;
  while (buf.length - off >= 2) {
    const opcode = buf[off]! & 0x0f;
    let len = buf[off + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - off < 4) return undefined;
      len = buf.readUInt16BE(off + 2);
      head = 4;
    } else if (len === 127) return undefined;
    if (buf.length - off < head + len) return undefined;
    if (opcode === 0x1 && buf[off + head] === 0x34 && buf[off + head + 1] === 0x34) {
      const code = /"closeCode":(\d+)/.exec(buf.toString('utf8', off + head, off + head + len))?.[1];
      return `${code ?? '?'} (socket.io connect_error)`;
    }
    if (opcode === 0x8) return len >= 2 ? String(buf.readUInt16BE(off + head)) : '1005 (no code)';
    off += head + len;
  }
  return undefined;
}

interface RawOptions {
  kind: string;
  address: string;
  /** Request bytes; written at once unless `abort` says otherwise. */
  request: string;
  /** `half`: write half the request and destroy; `before-answer`: write it and destroy; `reset`: write it and reset after 5 ms. */
  abort?: 'half' | 'before-answer' | 'reset';
  /** After `101`: `drop` destroys at once, `hold` keeps the socket until the server closes it or the attack stops. */
  after101: 'drop' | 'hold';
}

/** One raw-TCP upgrade attempt; resolves once it has an outcome (for held sockets: once the server answered). */
function rawUpgrade(o: RawOptions): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    let upgraded = false;
    let pending = Buffer.alloc(0);
    const outcome = (what: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      count(o.kind, what);
      resolve();
    };
    const socket = connect({ host: '127.0.0.1', port: init.port, localAddress: o.address });
    all.add(socket);
    const timer = setTimeout(() => {
      outcome('no answer in 5 s');
      socket.destroy();
    }, ANSWER_MS);
    socket.on('connect', () => {
      if (o.abort === 'half') {
        socket.write(o.request.slice(0, o.request.length >> 1));
        socket.destroy();
        return outcome('aborted mid-request');
      }
      socket.write(o.request);
      if (o.abort === 'before-answer') {
        socket.destroy();
        return outcome('aborted before the answer');
      }
      if (o.abort === 'reset') {
        setTimeout(() => {
          if (!socket.destroyed) socket.resetAndDestroy();
          outcome('reset before the answer');
        }, 5);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!upgraded) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = pending.toString('latin1', 9, 12);
        if (status !== '101') {
          outcome(status);
          socket.destroy();
          return;
        }
        upgraded = true;
        pending = pending.subarray(end + 4);
        if (o.after101 === 'drop') {
          outcome('101 then dropped');
          socket.destroy();
          return;
        }
        outcome('101 held');
        held.add(socket);
        heldPeak = Math.max(heldPeak, held.size);
      }
      const code = closeCodeIn(pending);
      if (code !== undefined) {
        count(o.kind, `held, closed by the server ${code}`);
        held.delete(socket);
        socket.destroy();
      } else if (pending.length > 65_536) {
        pending = Buffer.alloc(0);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!done) outcome(`error ${err.code ?? err.message}`);
    });
    socket.on('close', () => {
      all.delete(socket);
      if (held.delete(socket) && running) count(o.kind, 'held, closed by the server without a close frame');
      outcome('closed without an answer');
    });
  });
}

/**
 * Calls `attempt` at `perSec` for `durationMs` (at most `total` times), never with more than
 * `MAX_IN_FLIGHT` unanswered: a due attempt past that is counted as skipped, not queued.
 */
function paced(kind: string, perSec: number, durationMs: number, total: number, attempt: (n: number) => Promise<void>): Promise<void> {
  return (async () => {
    let launched = 0;
    let inFlight = 0;
    const t0 = performance.now();
    while (running && launched < total && performance.now() - t0 < durationMs) {
      const due = Math.min(total, Math.floor((perSec * (performance.now() - t0)) / 1000) + 1) - launched;
      for (let i = 0; i < due; i++) {
        launched++;
        if (inFlight >= MAX_IN_FLIGHT) {
          count(kind, 'skipped (256 in flight)');
          continue;
        }
        inFlight++;
        count(kind, 'attempts');
        void attempt(launched).finally(() => inFlight--);
      }
      await sleep(5);
    }
  })();
}

const pick = <T>(list: readonly T[], n: number): T => list[n % list.length]!;

function flood(plan: AttackPlan): Promise<void> {
  return paced('flood', plan.floodPerSec, plan.durationMs, Math.ceil((plan.floodPerSec * plan.durationMs) / 1000), (n) =>
    rawUpgrade({
      kind: 'flood',
      address: pick(init.addresses.flood, n),
      request: `${(n % 4 === 0 ? upgradeLines(SIO_PATH) : WS()).join('\r\n')}\r\n\r\n`,
      after101: 'drop',
    }),
  );
}

function noauth(plan: AttackPlan): Promise<void> {
  // The whole count within the first 80 % of the attack, so the last sockets still meet the auth timeout.
  const perSec = plan.noauthTotal / ((plan.durationMs * 0.8) / 1000);
  return paced('noauth', perSec, plan.durationMs, plan.noauthTotal, (n) =>
    rawUpgrade({
      kind: 'noauth',
      address: pick(init.addresses.noauth, n),
      request: `${(n % 4 === 0 ? upgradeLines(SIO_PATH) : WS()).join('\r\n')}\r\n\r\n`,
      after101: 'hold',
    }),
  );
}

/** Invalid upgrades and aborted valid ones, in turn. */
const MALFORMED: Array<{ name: string; build: (path: string) => { request: string; abort?: RawOptions['abort'] } }> = [
  { name: 'bad key', build: (p) => ({ request: `${upgradeLines(p, [], { wsKey: 'not-a-key' }).join('\r\n')}\r\n\r\n` }) },
  { name: 'version 12', build: (p) => ({ request: `${upgradeLines(p, [], { version: '12' }).join('\r\n')}\r\n\r\n` }) },
  { name: 'duplicated key', build: (p) => ({ request: `${upgradeLines(p, [`Sec-WebSocket-Key: ${key()}`]).join('\r\n')}\r\n\r\n` }) },
  { name: 'duplicated host', build: (p) => ({ request: `${upgradeLines(p, ['Host: evil.example']).join('\r\n')}\r\n\r\n` }) },
  { name: 'HTTP/1.0', build: (p) => ({ request: `${upgradeLines(p, [], { http: '1.0' }).join('\r\n')}\r\n\r\n` }) },
  { name: 'aborted mid-request', build: (p) => ({ request: `${upgradeLines(p).join('\r\n')}\r\n\r\n`, abort: 'half' }) },
  { name: 'aborted before the answer', build: (p) => ({ request: `${upgradeLines(p).join('\r\n')}\r\n\r\n`, abort: 'before-answer' }) },
  { name: 'reset', build: (p) => ({ request: `${upgradeLines(p).join('\r\n')}\r\n\r\n`, abort: 'reset' }) },
];

function malformed(plan: AttackPlan): Promise<void> {
  return paced('malformed', plan.malformedPerSec, plan.durationMs, Math.ceil((plan.malformedPerSec * plan.durationMs) / 1000), (n) => {
    const variant = pick(MALFORMED, n);
    const path = Math.floor(n / MALFORMED.length) % 2 === 0 ? '/ws' : SIO_PATH;
    const { request, abort } = variant.build(path);
    return rawUpgrade({ kind: 'malformed', address: pick(init.addresses.malformed, Math.floor(n / MALFORMED.length)), request, after101: 'drop', ...(abort ? { abort } : {}) });
  });
}

function csp(plan: AttackPlan): Promise<void> {
  // Keep-alive connections, at most 16 per source address (the agent keys its pools by local address).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  agents.push(agent);
  return paced('csp', plan.cspPerSec, plan.durationMs, Math.ceil((plan.cspPerSec * plan.durationMs) / 1000), (n) => {
    const body = JSON.stringify({
      'csp-report': {
        'document-uri': `${origin}/`,
        'violated-directive': 'script-src',
        'blocked-uri': `https://evil.example/rotate-your-keys-now?n=${n}`,
      },
    });
    const originHeader = n % 3 === 0 ? undefined : n % 3 === 1 ? origin : 'https://evil.example';
    return new Promise<void>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: init.port,
          method: 'POST',
          path: '/api/csp-report',
          agent,
          localAddress: pick(init.addresses.csp, n),
          timeout: ANSWER_MS,
          headers: { 'content-type': 'application/csp-report', 'content-length': Buffer.byteLength(body), ...(originHeader ? { origin: originHeader } : {}) },
        },
        (res) => {
          count('csp', `${res.statusCode} (${originHeader === undefined ? 'no Origin' : originHeader === origin ? 'same origin' : 'cross origin'})`);
          res.resume();
          res.on('end', resolve);
          res.on('error', () => resolve());
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        count('csp', `error ${err.code ?? err.message}`);
        resolve();
      });
      req.end(body);
    });
  });
}

/** One authenticated connection over `/ws` from `address`; resolves once `welcome` arrived. */
function authed(address: string, user: string, onText: (text: string) => void): Promise<LiteWs> {
  return new Promise((resolve, reject) => {
    let welcomed = false;
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error('no welcome in 5 s'));
    }, ANSWER_MS);
    const ws = new LiteWs({
      port: init.port,
      path: '/ws',
      origin,
      protocols: ['bulwark.v1'],
      localAddress: address,
      onText: (buf, start, end) => {
        const text = buf.toString('utf8', start, end);
        if (!welcomed) {
          if (text.startsWith('{"type":"welcome"')) {
            welcomed = true;
            clearTimeout(timer);
            resolve(ws);
          }
          return;
        }
        onText(text);
      },
      onClose: () => {
        clearTimeout(timer);
        if (!welcomed) reject(new Error(`closed before welcome (${ws.closeCode || ws.status || 'no answer'})`));
      },
    });
    all.add(ws.socket);
    ws.socket.once('close', () => all.delete(ws.socket));
    ws.ready().then(
      () => ws.send(JSON.stringify({ type: 'auth', token: benchToken(Buffer.from(init.secret, 'utf8'), user) })),
      (err: Error) => {
        clearTimeout(timer);
        reject(new Error(ws.status ? `upgrade refused ${ws.status}` : err.message));
      },
    );
  });
}

/**
 * The XSS prober: joins a users' room and sends one vector every 1/xssPerSec, in corpus order.
 * When the server closes it (abuse scoring bans the user and the IP), it tries again every 2 s.
 */
function xss(plan: AttackPlan): Promise<void> {
  return (async () => {
    const t0 = performance.now();
    let v = 0;
    while (running && performance.now() - t0 < plan.durationMs) {
      let ws: LiteWs;
      try {
        ws = await authed(init.addresses.xss[0]!, 'xss-prober', (text) => {
          if (text.startsWith('{"type":"ack"')) count('xss', 'acked');
          else if (text.startsWith('{"type":"error"')) count('xss', `error ${/"code":"([A-Z_]+)"/.exec(text)?.[1] ?? '?'}`);
        });
        count('xss', 'connected');
      } catch (error) {
        count('xss', `reconnect refused: ${(error as Error).message}`);
        await sleep(2000);
        continue;
      }
      ws.send(JSON.stringify({ type: 'room.join', id: `xj${v}`, room: init.xssRoom }));
      while (running && ws.open && performance.now() - t0 < plan.durationMs) {
        await sleep(1000 / plan.xssPerSec);
        if (!ws.open) break;
        ws.send(JSON.stringify({ type: 'chat.send', id: `x${v}`, room: init.xssRoom, text: pick(ACTIVE_VECTORS, v) }));
        v++;
        count('xss', 'vectors sent');
      }
      if (ws.open) {
        ws.close();
        continue;
      }
      // The close frame and the socket's end are a moment apart.
      await sleep(50);
      const why = `closed by the server ${ws.closeCode || 'without a close frame'}`;
      count('xss', why);
      stats['xss']!['vectors before the first close'] ??= v;
      await sleep(2000);
    }
  })();
}

// ---- critical events on demand ----

interface Account {
  user: string;
  /** A refresh token already used once: presenting it again is `refresh_reuse`. */
  usedRefreshToken: string;
}

const accounts: Account[] = [];
let accountsProblem: string | undefined;

function post(path: string, body: Json, localAddress?: string): Promise<{ status: number; body: Json }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: init.port,
        method: 'POST',
        path,
        timeout: ANSWER_MS,
        ...(localAddress ? { localAddress } : {}),
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), origin },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => {
          let parsed: Json = {};
          try {
            parsed = JSON.parse(data || '{}') as Json;
          } catch {
            parsed = {};
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(text);
  });
}

/** Before the attack: one account per trigger round, its first refresh token used once. */
async function prepare(args: Json): Promise<Json> {
  const rounds = Number(args['rounds']);
  for (let k = 0; k < rounds; k++) {
    const user = `acct${k}-${randomBytes(3).toString('hex')}`;
    try {
      const reg = await post('/api/auth/register', { username: user, password: randomBytes(18).toString('base64url') });
      const first = String(reg.body['refreshToken'] ?? '');
      if (reg.status !== 201 || !first) throw new Error(`register answered ${reg.status} ${JSON.stringify(reg.body).slice(0, 120)}`);
      const refreshed = await post('/api/auth/refresh', { refreshToken: first });
      if (refreshed.status !== 200) throw new Error(`refresh answered ${refreshed.status}`);
      accounts.push({ user, usedRefreshToken: first });
    } catch (error) {
      accountsProblem = (error as Error).message;
      break;
    }
  }
  return { accounts: accounts.length, problem: accountsProblem };
}

/**
 * Round k: from its own address, a user's connection presents another user's token in
 * `auth.refresh` (`refresh_subject_mismatch`), then a used refresh token is presented again
 * (`refresh_reuse`). Each is timed when its request leaves.
 */
async function trigger(args: Json): Promise<Json> {
  const k = Number(args['round']);
  const address = pick(init.addresses.critical, k);
  const out: Json[] = [];
  const user = `crit${k}`;
  try {
    const ws = await authed(address, user, () => {});
    const sentAt = wallNow();
    ws.send(JSON.stringify({ type: 'auth.refresh', id: `r${k}`, token: benchToken(Buffer.from(init.secret, 'utf8'), `victim${k}`) }));
    out.push({ type: 'refresh_subject_mismatch', user, sentAt });
    setTimeout(() => ws.close(), 2000).unref();
  } catch (error) {
    out.push({ type: 'refresh_subject_mismatch', user, error: (error as Error).message });
  }
  const account = accounts[k];
  if (account) {
    await sleep(200);
    const sentAt = wallNow();
    try {
      const res = await post('/api/auth/refresh', { refreshToken: account.usedRefreshToken }, address);
      out.push({ type: 'refresh_reuse', user: account.user, sentAt, status: res.status });
    } catch (error) {
      out.push({ type: 'refresh_reuse', user: account.user, sentAt, error: (error as Error).message });
    }
  } else {
    out.push({ type: 'refresh_reuse', error: accountsProblem ?? 'no account for this round' });
  }
  return { triggers: out };
}

// ---- dispatch ----

function start(args: Json): Json {
  const plan = args as unknown as AttackPlan;
  running = true;
  loops.push(flood(plan), noauth(plan), malformed(plan), csp(plan), xss(plan));
  return {};
}

async function stop(): Promise<Json> {
  running = false;
  await Promise.race([Promise.all(loops), sleep(ANSWER_MS + 1000)]);
  loops.length = 0;
  const stillHeld = held.size;
  for (const s of all) s.destroy();
  for (const a of agents) a.destroy();
  agents.length = 0;
  held.clear();
  return { stats, heldPeak, heldAtStop: stillHeld };
}

async function handle(op: string, args: Json): Promise<Json> {
  switch (op) {
    case 'init':
      init = args as unknown as AttackerInit;
      origin = `http://127.0.0.1:${init.port}`;
      return { pid: process.pid };
    case 'prepare':
      return prepare(args);
    case 'start':
      return start(args);
    case 'trigger':
      return trigger(args);
    case 'report':
      return { stats, heldPeak, held: held.size };
    case 'stop':
      return stop();
    case 'exit':
      running = false;
      for (const s of all) s.destroy();
      setTimeout(() => process.exit(0), 50);
      return {};
    default:
      throw new Error(`unknown op ${op}`);
  }
}

process.on('message', (req: { seq: number; op: string; args: Json }) => {
  handle(req.op, req.args).then(
    (result) => process.send?.({ seq: req.seq, ok: true, result }),
    (err: Error) => process.send?.({ seq: req.seq, ok: false, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
