/**
 * A load-generator process. The orchestrator (bench/run.ts) forks a few of these, pinned away
 * from the server's core, and drives them over IPC: open authenticated connections, pump the
 * echo window, join the fanout room, publish at a rate, report counts and latency histograms.
 * Every loop is bounded in count and every wait in time.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Hist } from '../lib/hist.js';
import { benchToken } from '../lib/jwt.js';
import { LiteWs, encodeFrame } from './lite-ws.js';
import { PROTOCOLS, type ClientProtocol } from './protocols.js';

export interface InitArgs {
  protocol: string;
  port: number;
  secret: string;
  localAddresses: string[];
  workerIndex: number;
}

type Json = Record<string, unknown>;
interface Request {
  seq: number;
  op: string;
  args: Json;
}

/** Wall-clock milliseconds with sub-µs resolution, comparable across processes. */
const wallNow = (): number => performance.timeOrigin + performance.now();

interface Client {
  ws: LiteWs;
  user: string;
  /** Send times of requests awaiting their ack, oldest first (replies come in order). */
  inflight: number[];
  probe: boolean;
}

let init: InitArgs;
let proto: ClientProtocol;
let secret: Buffer;
let origin = '';
let addrIndex = 0;
let nextId = 1;
const groups = new Map<string, Client[]>();

// Counters shared by the scenario handlers.
let measuring = false;
let running = false;
let ops = 0;
let errors = 0;
let deliveries = 0;
let totalDeliveries = 0;
let dropped = 0;
const hist = new Hist();
let echoText = '';
let pongFrame: Buffer | undefined;

function send(reply: Json): void {
  process.send?.(reply);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens one authenticated connection. Resolves with the handshake+auth latency in ms. */
function openClient(user: string, onClose: () => void, claims: Json = {}): Promise<{ client: Client; ms: number }> {
  const t0 = performance.now();
  const localAddress = init.localAddresses.length ? init.localAddresses[addrIndex++ % init.localAddresses.length] : undefined;
  return new Promise((resolve, reject) => {
    let settled = false;
    const client: Client = { ws: undefined as unknown as LiteWs, user, inflight: [], probe: false };
    const hello = (): void => client.ws.send(proto.hello(benchToken(secret, user, 3600, claims)));
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      client.ws.close();
      reject(new Error(why));
    };
    const ws = new LiteWs({
      port: init.port,
      path: proto.path,
      origin,
      protocols: proto.protocols,
      ...(localAddress ? { localAddress } : {}),
      onText: (buf, start, end) => {
        const kind = proto.classify(buf, start, end);
        if (kind === 'ping' && pongFrame) return ws.sendRaw(pongFrame);
        if (kind === 'open' && proto.waitForOpen) return hello();
        if (kind === 'welcome') {
          if (settled) return;
          settled = true;
          ws.onText = idleHandler(client);
          resolve({ client, ms: performance.now() - t0 });
          return;
        }
        if (kind === 'refused' || kind === 'error') fail(`auth refused: ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
      },
      onClose: () => {
        if (!settled) fail('closed during auth');
        else onClose();
      },
    });
    client.ws = ws;
    ws.ready().then(
      () => {
        if (!proto.waitForOpen) hello();
      },
      (err: Error) => fail(err.message),
    );
  });
}

/** After auth: answer application pings, ignore the rest until a scenario takes over. */
function idleHandler(_client: Client) {
  return (buf: Buffer, start: number, end: number): void => {
    if (pongFrame && proto.classify(buf, start, end) === 'ping') _client.ws.sendRaw(pongFrame);
  };
}

async function connectMany(args: Json): Promise<Json> {
  const users = args['users'] as string[];
  const tag = String(args['tag']);
  const concurrency = Number(args['concurrency'] ?? 64);
  const timeoutMs = Number(args['timeoutMs'] ?? 60_000);
  const list = groups.get(tag) ?? [];
  groups.set(tag, list);
  const h = new Hist();
  const failures: string[] = [];
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + timeoutMs;
  const lane = async (): Promise<void> => {
    while (next < users.length && performance.now() < deadline) {
      const user = users[next++]!;
      try {
        const { client, ms } = await withTimeout(
          openClient(user, () => {
            dropped++;
          }),
          15_000,
          `auth of ${user}`,
        );
        list.push(client);
        h.record(ms);
      } catch (err) {
        failed++;
        if (failures.length < 5) failures.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, lane));
  return { ok: users.length - failed, failed, failures, elapsedMs: performance.now() - t0, hist: h.toSparse() };
}

/** Sends one request on every client of a group and waits for every reply (ack or error). */
async function requestAll(list: Client[], frame: (c: Client, id: number) => string | undefined, timeoutMs: number): Promise<{ acked: number; errors: string[] }> {
  const errs: string[] = [];
  let acked = 0;
  const waits = list.map(
    (c) =>
      new Promise<void>((resolve) => {
        const text = frame(c, nextId++);
        if (text === undefined) return resolve();
        const prev = c.ws.onText;
        c.ws.onText = (buf, start, end) => {
          const kind = proto.classify(buf, start, end);
          if (kind === 'ping') return prev(buf, start, end);
          if (kind === 'ack' || kind === 'error') {
            if (kind === 'ack') acked++;
            else if (errs.length < 5) errs.push(buf.toString('utf8', start, Math.min(end, start + 200)));
            c.ws.onText = prev;
            resolve();
          }
        };
        c.ws.send(text);
      }),
  );
  await withTimeout(Promise.all(waits), timeoutMs, 'replies').catch((err: Error) => errs.push(err.message));
  return { acked, errors: errs };
}

function textFor(n: number, stamp: boolean): string {
  // ~100-byte frames; the text varies (a spam filter must not see identical messages).
  const t = stamp ? `@${wallNow().toFixed(3)}@` : '';
  return `${t}bench msg ${n} from the load generator ${echoText}`;
}

// ---- echo ----

function echoHandler(c: Client) {
  return (buf: Buffer, start: number, end: number): void => {
    const kind = proto.classify(buf, start, end);
    if (kind === 'ack' || kind === 'error') {
      const sent = c.inflight.shift();
      if (measuring) {
        if (kind === 'ack') {
          ops++;
          if (sent !== undefined) hist.record(performance.now() - sent);
        } else errors++;
      }
      if (running) echoSend(c);
    } else if (kind === 'ping' && pongFrame) c.ws.sendRaw(pongFrame);
  };
}

function echoSend(c: Client): void {
  const id = nextId++;
  c.inflight.push(performance.now());
  c.ws.sendRaw(encodeFrame(proto.send(`echo-${c.user}`, id, textFor(id, false))));
}

async function echoPrepare(): Promise<Json> {
  const list = groups.get('echo') ?? [];
  const r = await requestAll(list, (c, id) => proto.echoRoom(`echo-${c.user}`, id), 30_000);
  return { acked: r.acked, errors: r.errors };
}

function echoStart(args: Json): Json {
  const window = Number(args['window'] ?? 10);
  running = true;
  for (const c of groups.get('echo') ?? []) {
    c.inflight = [];
    c.ws.onText = echoHandler(c);
    c.ws.socket.cork();
    for (let i = 0; i < window; i++) echoSend(c);
    c.ws.socket.uncork();
  }
  return {};
}

// ---- fanout ----

const MARK = 0x40; // '@'

function subscriberHandler(c: Client) {
  return (buf: Buffer, start: number, end: number): void => {
    const kind = proto.classify(buf, start, end);
    if (kind === 'message') {
      totalDeliveries++;
      if (!measuring) return;
      deliveries++;
      if (!c.probe) return;
      const a = buf.indexOf(MARK, start);
      if (a < 0 || a >= end) return;
      const b = buf.indexOf(MARK, a + 1);
      if (b < 0 || b >= end) return;
      const sentAt = Number(buf.toString('latin1', a + 1, b));
      if (Number.isFinite(sentAt)) hist.record(wallNow() - sentAt);
    } else if (kind === 'typing') typingReceived++;
    else if (kind === 'ping' && pongFrame) c.ws.sendRaw(pongFrame);
  };
}

async function fanoutJoin(args: Json): Promise<Json> {
  const room = String(args['room']);
  const probeEvery = Number(args['probeEvery'] ?? 10);
  const list = groups.get('subs') ?? [];
  const r = await requestAll(list, (_c, id) => proto.join(room, id), 60_000);
  list.forEach((c, i) => {
    c.probe = i % probeEvery === 0;
    c.ws.onText = subscriberHandler(c);
  });
  return { acked: r.acked, errors: r.errors };
}

/** Typing traffic during fanout (`--typing N`): every `every`-th subscriber sends `chat.typing` every `everyMs`, jittered. */
const typingTimers: NodeJS.Timeout[] = [];
/** `chat.typing` frames this worker's subscribers received, and signals they sent. */
let typingReceived = 0;
let typingSent = 0;

function typingStart(args: Json): Json {
  const typing = proto.typing;
  if (!typing) return { typers: 0 };
  const room = String(args['room']);
  const every = Math.max(1, Number(args['every']));
  const everyMs = Number(args['everyMs'] ?? 2000);
  const frame = typing(room);
  let typers = 0;
  (groups.get('subs') ?? []).forEach((c, i) => {
    if (i % every !== every - 1) return;
    typers++;
    const type = (): void => {
      c.ws.send(frame);
      typingSent++;
    };
    const start = setTimeout(() => {
      type();
      typingTimers.push(setInterval(type, everyMs));
    }, Math.random() * everyMs);
    typingTimers.push(start);
  });
  return { typers };
}

function typingStop(): Json {
  for (const t of typingTimers) clearInterval(t);
  typingTimers.length = 0;
  return { sent: typingSent, received: typingReceived };
}

async function fanoutCreate(args: Json): Promise<Json> {
  const list = groups.get('pub') ?? [];
  const r = await requestAll(list, (_c, id) => proto.createRoom(String(args['room']), id), 10_000);
  return { acked: r.acked, errors: r.errors };
}

async function publish(args: Json): Promise<Json> {
  const pub = (groups.get('pub') ?? [])[0];
  if (!pub) return { sent: 0, acked: 0, errors: 0 };
  const room = String(args['room']);
  const rate = Number(args['rate']);
  const durationMs = Number(args['durationMs']);
  let sent = 0;
  let acked = 0;
  let errs = 0;
  pub.ws.onText = (buf, start, end) => {
    const kind = proto.classify(buf, start, end);
    if (kind === 'ack') acked++;
    else if (kind === 'error') errs++;
    else if (kind === 'ping' && pongFrame) pub.ws.sendRaw(pongFrame);
  };
  // Exactly rate x duration messages, the first at once and one every 1/rate after it: a short
  // step then publishes what it promises (waiting for the first interval would cost one message).
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const t0 = performance.now();
  const maxPerTick = Math.max(1, Math.ceil(rate / 50));
  while (sent < total && performance.now() - t0 < durationMs + 1000) {
    const due = Math.min(total, Math.floor((rate * (performance.now() - t0)) / 1000) + 1) - sent;
    for (let i = 0; i < Math.min(due, maxPerTick); i++) {
      const id = nextId++;
      pub.ws.send(proto.send(room, id, textFor(id, true)));
      sent++;
    }
    if (sent < total) await sleep(1);
  }
  // The last message leaves 1/rate before the step's end: the step lasted durationMs.
  return { sent, total, acked, errors: errs, elapsedMs: Math.max(durationMs, performance.now() - t0 + 1000 / rate) };
}

// ---- soak ----

/**
 * The soak: every client of group `soak` is in one of the rooms and sends one `chat.send` every
 * `intervalMs` (jittered), for as long as the orchestrator lets it; every `churnMs` one client
 * closes and reconnects (auth, join again). The ids of acknowledged messages are kept (each ack
 * carries the stored message's id) so the orchestrator can check every one of them is stored.
 */
interface SoakClient extends Client {
  room: string;
  timer: NodeJS.Timeout | undefined;
}

const MESSAGE_ID = B('"message":{"id":"');
let soakRunning = false;
const soakAcked: string[] = [];
let soakErrors = 0;
let soakReconnects = 0;
let soakDeliveries = 0;
let soakChurnTimer: NodeJS.Timeout | undefined;
const soakClients: SoakClient[] = [];

function B(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

function soakHandler(c: SoakClient) {
  return (buf: Buffer, start: number, end: number): void => {
    const kind = proto.classify(buf, start, end);
    if (kind === 'message') {
      soakDeliveries++;
    } else if (kind === 'ack' || kind === 'error') {
      const sent = c.inflight.shift();
      if (kind === 'error') {
        soakErrors++;
        return;
      }
      if (sent !== undefined) hist.record(performance.now() - sent);
      const at = buf.indexOf(MESSAGE_ID, start);
      if (at >= 0 && at < end) {
        const from = at + MESSAGE_ID.length;
        const to = buf.indexOf(0x22, from);
        if (to > from && to < end) soakAcked.push(buf.toString('latin1', from, to));
      }
    } else if (kind === 'ping' && pongFrame) c.ws.sendRaw(pongFrame);
  };
}

function soakSchedule(c: SoakClient, intervalMs: number, first: boolean): void {
  const delay = first ? Math.random() * intervalMs : intervalMs * (0.5 + Math.random());
  c.timer = setTimeout(() => {
    if (!soakRunning) return;
    const id = nextId++;
    c.inflight.push(performance.now());
    c.ws.send(proto.send(c.room, id, textFor(id, false)));
    soakSchedule(c, intervalMs, false);
  }, delay);
}

async function soakPrepare(args: Json): Promise<Json> {
  const rooms = Number(args['rooms']);
  const create = Boolean(args['create']);
  const list = groups.get('soak') ?? [];
  const errs: string[] = [];
  if (create) {
    // The first client of each room creates it (rooms are dealt to clients round-robin).
    const creators = list.slice(0, rooms);
    const r = await requestAll(creators, (c, id) => proto.createRoom(`soak-${list.indexOf(c) % rooms}`, id), 30_000);
    errs.push(...r.errors);
  }
  return { errors: errs };
}

async function soakJoin(args: Json): Promise<Json> {
  const rooms = Number(args['rooms']);
  const offset = Number(args['offset'] ?? 0);
  const list = groups.get('soak') ?? [];
  const r = await requestAll(list, (c, id) => proto.join(`soak-${(offset + list.indexOf(c)) % rooms}`, id), 60_000);
  list.forEach((c, i) => {
    const sc = c as SoakClient;
    sc.room = `soak-${(offset + i) % rooms}`;
    sc.timer = undefined;
    sc.inflight = [];
    sc.ws.onText = soakHandler(sc);
    soakClients.push(sc);
  });
  return { acked: r.acked, errors: r.errors };
}

/** Closes one client and opens it again: auth, join its room, back to sending. */
async function soakChurnOne(intervalMs: number): Promise<void> {
  if (!soakRunning || soakClients.length === 0) return;
  const i = Math.floor(Math.random() * soakClients.length);
  const old = soakClients[i]!;
  clearTimeout(old.timer);
  old.ws.close();
  try {
    const { client } = await withTimeout(
      openClient(old.user, () => {
        dropped++;
      }),
      15_000,
      `reconnect of ${old.user}`,
    );
    const sc = client as SoakClient;
    sc.room = old.room;
    const joined = await requestAll([sc], (_c, id) => proto.join(sc.room, id), 10_000);
    if (joined.errors.length) soakErrors++;
    sc.inflight = [];
    sc.ws.onText = soakHandler(sc);
    soakClients[i] = sc;
    soakReconnects++;
    if (soakRunning) soakSchedule(sc, intervalMs, true);
    else sc.ws.close();
  } catch {
    soakErrors++;
  }
}

function soakStart(args: Json): Json {
  const intervalMs = Number(args['intervalMs']);
  const churnMs = Number(args['churnMs']);
  soakRunning = true;
  for (const c of soakClients) soakSchedule(c, intervalMs, true);
  const churn = (): void => {
    soakChurnTimer = setTimeout(() => {
      void soakChurnOne(intervalMs).finally(() => {
        if (soakRunning) churn();
      });
    }, churnMs);
  };
  if (churnMs > 0) churn();
  return {};
}

function soakSample(): Json {
  const out = { acked: soakAcked.length, errors: soakErrors, reconnects: soakReconnects, deliveries: soakDeliveries, hist: hist.toSparse() };
  hist.reset();
  return out;
}

async function soakStop(): Promise<Json> {
  soakRunning = false;
  clearTimeout(soakChurnTimer);
  for (const c of soakClients) clearTimeout(c.timer);
  // Let the replies to sends already made arrive (bounded).
  const until = performance.now() + 5000;
  while (performance.now() < until && soakClients.some((c) => c.inflight.length > 0)) await sleep(50);
  const unanswered = soakClients.reduce((a, c) => a + c.inflight.length, 0);
  return { ids: soakAcked, errors: soakErrors, reconnects: soakReconnects, unanswered };
}

// ---- attack scenario: chatting users and an admin ----

/**
 * The attack scenario's legitimate users (bench/attack.ts): every client of group `chat` is in
 * one room and sends one `chat.send` every `intervalMs` (jittered) for as long as the orchestrator
 * lets it, while the orchestrator moves the phase (warm-up, baseline, attack, drain). Each message
 * carries its send time and its phase (`@<wall ms>@p<phase> ...`): sends, acks, errors and ack
 * latency count in the phase the message was sent in, deliveries and their latency in the phase
 * written in the text, wherever and whenever they arrive.
 */
interface ChatClient extends Client {
  room: string;
  timer: NodeJS.Timeout | undefined;
  /** Phase of each request awaiting its reply, parallel to `inflight`. */
  phases: number[];
}

interface PhaseStats {
  /** This worker's own event-loop delay in the phase (ms): what its latency figures carry of it. */
  loopP99Ms: number;
  loopMaxMs: number;
  sent: number;
  acked: number;
  errors: number;
  /** Sends attempted on a connection the server had closed (never answered). */
  unsendable: number;
  errorCodes: Record<string, number>;
  deliveries: number;
  ack: Hist;
  delivery: Hist;
}

const CHAT_PHASES = 8;
const chatStats: PhaseStats[] = Array.from({ length: CHAT_PHASES }, () => newPhase());
let chatPhase = 0;
let chatRunning = false;
const chatClients: ChatClient[] = [];
const CODE_KEY = B('"code":"');
/** The worker's event-loop delay, read and reset at each phase change. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function closeLoopPhase(): void {
  const stats = chatStats[chatPhase];
  if (!stats || loopDelay.count === 0) return;
  stats.loopP99Ms = loopDelay.percentile(99) / 1e6;
  stats.loopMaxMs = loopDelay.max / 1e6;
  loopDelay.reset();
}

function newPhase(): PhaseStats {
  return { loopP99Ms: 0, loopMaxMs: 0, sent: 0, acked: 0, errors: 0, unsendable: 0, errorCodes: {}, deliveries: 0, ack: new Hist(), delivery: new Hist() };
}

function chatHandler(c: ChatClient) {
  return (buf: Buffer, start: number, end: number): void => {
    const kind = proto.classify(buf, start, end);
    if (kind === 'message') {
      // Only the users' own stamped messages count (an XSS prober may share the room).
      const a = buf.indexOf(MARK, start);
      if (a < 0 || a >= end) return;
      const b = buf.indexOf(MARK, a + 1);
      if (b < 0 || b + 2 >= end || buf[b + 1] !== 0x70) return;
      const phase = buf[b + 2]! - 0x30;
      const stats = chatStats[phase];
      if (!stats) return;
      stats.deliveries++;
      const sentAt = Number(buf.toString('latin1', a + 1, b));
      if (Number.isFinite(sentAt)) stats.delivery.record(wallNow() - sentAt);
    } else if (kind === 'ack' || kind === 'error') {
      const sent = c.inflight.shift();
      const stats = chatStats[c.phases.shift() ?? chatPhase]!;
      if (kind === 'ack') {
        stats.acked++;
        if (sent !== undefined) stats.ack.record(performance.now() - sent);
        return;
      }
      stats.errors++;
      const at = buf.indexOf(CODE_KEY, start);
      const code = at >= 0 && at < end ? buf.toString('latin1', at + CODE_KEY.length, Math.min(end, buf.indexOf(0x22, at + CODE_KEY.length))) : 'unknown';
      stats.errorCodes[code] = (stats.errorCodes[code] ?? 0) + 1;
    } else if (kind === 'ping' && pongFrame) c.ws.sendRaw(pongFrame);
  };
}

function chatSchedule(c: ChatClient, intervalMs: number, first: boolean): void {
  const delay = first ? Math.random() * intervalMs : intervalMs * (0.5 + Math.random());
  c.timer = setTimeout(() => {
    if (!chatRunning) return;
    const id = nextId++;
    const stats = chatStats[chatPhase]!;
    stats.sent++;
    if (c.ws.open) {
      c.inflight.push(performance.now());
      c.phases.push(chatPhase);
      c.ws.send(proto.send(c.room, id, `@${wallNow().toFixed(3)}@p${chatPhase} chat ${id} from ${c.user}`));
    } else {
      stats.unsendable++;
    }
    chatSchedule(c, intervalMs, false);
  }, delay);
}

/** Global index of this worker's i-th client: users are dealt round-robin to the workers. */
const globalIndex = (i: number, workers: number): number => i * workers + init.workerIndex;

async function chatCreate(args: Json): Promise<Json> {
  const rooms = Number(args['rooms']);
  const workers = Number(args['workers']);
  const list = groups.get('chat') ?? [];
  const creators = list.filter((_c, i) => globalIndex(i, workers) < rooms);
  const r = await requestAll(creators, (c, id) => proto.createRoom(`atk-${globalIndex(list.indexOf(c), workers)}`, id), 30_000);
  return { acked: r.acked, errors: r.errors };
}

async function chatJoin(args: Json): Promise<Json> {
  const rooms = Number(args['rooms']);
  const workers = Number(args['workers']);
  const list = groups.get('chat') ?? [];
  const roomOf = (i: number): string => `atk-${globalIndex(i, workers) % rooms}`;
  const r = await requestAll(list, (c, id) => proto.join(roomOf(list.indexOf(c)), id), 60_000);
  list.forEach((c, i) => {
    const cc = c as ChatClient;
    cc.room = roomOf(i);
    cc.timer = undefined;
    cc.inflight = [];
    cc.phases = [];
    cc.ws.onText = chatHandler(cc);
    chatClients.push(cc);
  });
  return { acked: r.acked, errors: r.errors };
}

function chatStart(args: Json): Json {
  const intervalMs = Number(args['intervalMs']);
  chatRunning = true;
  for (const c of chatClients) chatSchedule(c, intervalMs, true);
  return {};
}

function chatReport(): Json {
  return {
    dropped,
    open: chatClients.filter((c) => c.ws.open).length,
    inflight: chatClients.reduce((a, c) => a + c.inflight.length, 0),
    phases: chatStats.map((s) => ({ ...s, ack: s.ack.toSparse(), delivery: s.delivery.toSparse() })),
  };
}

async function chatStop(): Promise<Json> {
  chatRunning = false;
  for (const c of chatClients) clearTimeout(c.timer);
  closeLoopPhase();
  // The replies to sends already made (bounded).
  const until = performance.now() + 5000;
  while (performance.now() < until && chatClients.some((c) => c.ws.open && c.inflight.length > 0)) await sleep(50);
  return chatReport();
}

/** The admin's `security.alert` frames: counts by type, and the critical ones with their arrival time. */
const ALERT = B('{"type":"security.alert"');
const alertCounts: Record<string, number> = {};
const criticalAlerts: Json[] = [];
/** The first alert of each type as the admin saw it (event types are a fixed set). */
const firstAlerts: Record<string, Json> = {};
let suppressedAlerts = 0;
let admin: Client | undefined;

function adminHandler(c: Client) {
  return (buf: Buffer, start: number, end: number): void => {
    const at = buf.indexOf(ALERT, start);
    if (at !== start) {
      if (pongFrame && proto.classify(buf, start, end) === 'ping') c.ws.sendRaw(pongFrame);
      return;
    }
    const receivedAt = wallNow();
    const { event } = JSON.parse(buf.toString('utf8', start, end)) as { event: { type: string; severity: string; ts: number; user?: string; ip?: string; detail?: Json } };
    alertCounts[event.type] = (alertCounts[event.type] ?? 0) + 1;
    firstAlerts[event.type] ??= event as unknown as Json;
    if (event.type === 'alerts_suppressed') suppressedAlerts += Number(event.detail?.['count'] ?? 0);
    if (event.severity === 'critical' && criticalAlerts.length < 1000) criticalAlerts.push({ type: event.type, user: event.user, ip: event.ip, ts: event.ts, receivedAt });
  };
}

async function adminConnect(args: Json): Promise<Json> {
  const { client } = await withTimeout(
    openClient(String(args['user']), () => (admin = undefined), { roles: ['admin'] }),
    15_000,
    'auth of the admin',
  );
  admin = client;
  client.ws.onText = adminHandler(client);
  (groups.get('admin') ?? groups.set('admin', []).get('admin')!).push(client);
  return {};
}

function adminReport(): Json {
  return { open: admin?.ws.open ?? false, alertCounts, criticalAlerts, suppressedAlerts, firstAlerts };
}

// ---- dispatch ----

function closeAll(): Json {
  running = false;
  measuring = false;
  soakRunning = false;
  clearTimeout(soakChurnTimer);
  for (const c of soakClients) clearTimeout(c.timer);
  soakClients.length = 0;
  soakAcked.length = 0;
  soakErrors = 0;
  soakReconnects = 0;
  soakDeliveries = 0;
  chatRunning = false;
  for (const c of chatClients) clearTimeout(c.timer);
  chatClients.length = 0;
  chatStats.forEach((_s, i) => (chatStats[i] = newPhase()));
  chatPhase = 0;
  admin = undefined;
  for (const k of Object.keys(alertCounts)) delete alertCounts[k];
  for (const k of Object.keys(firstAlerts)) delete firstAlerts[k];
  criticalAlerts.length = 0;
  suppressedAlerts = 0;
  let n = 0;
  for (const list of groups.values()) {
    for (const c of list) {
      c.ws.close();
      n++;
    }
  }
  groups.clear();
  return { closed: n };
}

async function handle(req: Request): Promise<Json> {
  const { op, args } = req;
  switch (op) {
    case 'init':
      init = args as unknown as InitArgs;
      proto = PROTOCOLS[init.protocol]!;
      if (!proto) throw new Error(`unknown protocol ${init.protocol}`);
      secret = Buffer.from(init.secret, 'utf8');
      origin = `http://127.0.0.1:${init.port}`;
      pongFrame = proto.pong === undefined ? undefined : encodeFrame(proto.pong);
      echoText = 'lorem ipsum';
      return { pid: process.pid };
    case 'connect':
      return connectMany(args);
    case 'mark':
      ops = 0;
      errors = 0;
      deliveries = 0;
      hist.reset();
      measuring = true;
      return {};
    case 'report': {
      measuring = false;
      const out = { ops, errors, deliveries, dropped, hist: hist.toSparse() };
      return out;
    }
    case 'count':
      return { totalDeliveries, deliveries, dropped };
    case 'echo.prepare':
      return echoPrepare();
    case 'echo.start':
      return echoStart(args);
    case 'echo.stop':
      running = false;
      measuring = false;
      return { ops, errors, hist: hist.toSparse() };
    case 'fanout.create':
      return fanoutCreate(args);
    case 'fanout.join':
      return fanoutJoin(args);
    case 'typing.start':
      return typingStart(args);
    case 'typing.stop':
      return typingStop();
    case 'publish':
      return publish(args);
    case 'soak.prepare':
      return soakPrepare(args);
    case 'soak.join':
      return soakJoin(args);
    case 'soak.start':
      return soakStart(args);
    case 'soak.sample':
      return soakSample();
    case 'soak.stop':
      return soakStop();
    case 'chat.create':
      return chatCreate(args);
    case 'chat.join':
      return chatJoin(args);
    case 'chat.start':
      return chatStart(args);
    case 'chat.phase':
      closeLoopPhase();
      chatPhase = Number(args['phase']);
      return { dropped };
    case 'chat.report':
      return chatReport();
    case 'chat.stop':
      return chatStop();
    case 'admin.connect':
      return adminConnect(args);
    case 'admin.report':
      return adminReport();
    case 'closeAll':
      return closeAll();
    case 'exit':
      closeAll();
      setTimeout(() => process.exit(0), 50);
      return {};
    default:
      throw new Error(`unknown op ${op}`);
  }
}

process.on('message', (req: Request) => {
  handle(req).then(
    (result) => send({ seq: req.seq, ok: true, result }),
    (err: Error) => send({ seq: req.seq, ok: false, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
