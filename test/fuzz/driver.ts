/**
 * The seeded fuzzer, shared by `test/fuzz/fuzz.test.ts` and the bench's `fuzz` scenario: many
 * connections (raw WebSocket and Socket.IO lanes) send the mix of `fuzzMessage` at a running
 * server and keep the books the contract lets a client keep — for every frame whose top-level
 * `id` is well-formed, how many replies came back with that `id`; every `INTERNAL` error; how each
 * connection ended. A connection the server closes is replaced by a new one (a new user, since a
 * closed one may be banned). Messages are drawn from fast-check with a per-lane seed, so the
 * sequence each lane sends is reproducible from the run's seed.
 */
import fc from 'fast-check';
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { fuzzMessage, type FuzzMessage } from './frames.js';

export interface FuzzOptions {
  /** `http://host:port` of the server. */
  baseUrl: string;
  origin: string;
  /** A valid token for `sub`. */
  token(sub: string): Promise<string>;
  seed: number;
  /** Connections at once (each lane replaces its connection when the server closes it). */
  lanes: number;
  /** How many of the lanes use Socket.IO instead of raw WebSocket. @default lanes / 4 */
  socketioLanes?: number;
  /** How many lanes also send frames that must end the connection (binary, non-UTF-8, oversized); the rest never do. @default lanes / 2 */
  hostileLanes?: number;
  framesPerLane: number;
  /** The server's `limits.maxPayloadBytes`, to size huge frames around it. */
  maxPayloadBytes: number;
  /** Stop sending at this wall-clock time (`Date.now()` ms), whatever is left. */
  deadline: number;
  /** Frames with an id in flight per connection. @default 16 */
  window?: number;
  /** How long to wait for the last replies after sending. @default 15000 */
  settleMs?: number;
  /** Prefix of the users the fuzzer authenticates as. @default 'fuzz' */
  userPrefix?: string;
}

export interface FuzzReport {
  seed: number;
  lanes: number;
  connections: number;
  framesSent: number;
  bytesSent: number;
  /** Frames with a well-formed id sent on connections that stayed open to the end (each must have exactly one reply). */
  checkedFrames: number;
  /** Frames with a well-formed id sent on connections the server closed (each may have at most one reply). */
  closedFrames: number;
  replies: number;
  /** `id: expected/got` for ids on open connections that did not get exactly one reply per frame (first 20). */
  mismatches: string[];
  mismatchCount: number;
  /** INTERNAL errors received (any connection, any transport). */
  internal: number;
  /** How connections ended, by close code (`open` for those still open at the end). */
  endings: Record<string, number>;
  elapsedMs: number;
  /** True when the deadline cut the run short. */
  cut: boolean;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The top-level `id` a server would echo: the same rule as docs/protocol.md "Frames". */
export function wellFormedId(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.prototype.hasOwnProperty.call(value, 'id')) return undefined;
  const id = (value as { id: unknown }).id;
  return typeof id === 'string' && ID.test(id) ? id : undefined;
}

interface Books {
  expected: Map<string, number>;
  got: Map<string, number>;
  outstanding: number;
  ended: string | undefined;
  internal: number;
  replies: number;
}

function newBooks(): Books {
  return { expected: new Map(), got: new Map(), outstanding: 0, ended: undefined, internal: 0, replies: 0 };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One connection of a lane, whatever the transport. */
interface LaneConnection {
  books: Books;
  /** Sends one message; returns the bytes written. */
  send(message: FuzzMessage): number;
  bufferedAmount(): number;
  close(): void;
}

function note(books: Books, frame: Record<string, unknown>): void {
  if (frame.type === 'error' && frame.code === 'INTERNAL') books.internal++;
  if ((frame.type !== 'ack' && frame.type !== 'error') || typeof frame.id !== 'string') return;
  books.replies++;
  books.got.set(frame.id, (books.got.get(frame.id) ?? 0) + 1);
  if ((books.got.get(frame.id) ?? 0) <= (books.expected.get(frame.id) ?? 0)) books.outstanding--;
}

function expect(books: Books, id: string | undefined): void {
  if (id === undefined) return;
  books.expected.set(id, (books.expected.get(id) ?? 0) + 1);
  books.outstanding++;
}

async function openWs(options: FuzzOptions, sub: string): Promise<LaneConnection> {
  const books = newBooks();
  const ws = new WebSocket(`${options.baseUrl.replace(/^http/, 'ws')}/ws`, ['bulwark.v1'], { headers: { Origin: options.origin } });
  ws.on('error', () => undefined);
  ws.on('close', (code) => (books.ended ??= String(code)));
  const welcomed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no welcome within 10 s')), 10_000);
    ws.on('message', (data) => {
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(String(data)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (frame.type === 'welcome') {
        clearTimeout(timer);
        resolve();
      }
      note(books, frame);
    });
    ws.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`closed before welcome (${books.ended})`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'auth', token: await options.token(sub) }));
  await welcomed;
  return {
    books,
    send(message) {
      if (ws.readyState !== ws.OPEN) return 0;
      if (message.kind === 'text') {
        expect(books, wellFormedId(message.data));
        ws.send(message.data);
        return Buffer.byteLength(message.data);
      }
      // A text frame carrying bytes that are not UTF-8 (ws does not check what it sends), or a binary frame.
      ws.send(Buffer.from(message.data), { binary: message.kind === 'binary' });
      return message.data.length;
    },
    bufferedAmount: () => ws.bufferedAmount,
    close: () => ws.close(),
  };
}

/** Socket.IO reserves these event names on the client; a frame typed so goes out as `chat.send`. */
const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

async function openSio(options: FuzzOptions, sub: string): Promise<LaneConnection> {
  const books = newBooks();
  const socket: Socket = io(options.baseUrl, {
    transports: ['websocket'],
    auth: { token: await options.token(sub) },
    extraHeaders: { Origin: options.origin },
    reconnection: false,
    forceNew: true,
  });
  socket.onAny((_name: string, frame: unknown) => {
    if (frame && typeof frame === 'object') note(books, frame as Record<string, unknown>);
  });
  socket.on('close', (frame: { code?: unknown }) => (books.ended ??= String(frame?.code)));
  socket.on('disconnect', (reason) => (books.ended ??= `disconnect:${reason}`));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no welcome within 10 s')), 10_000);
    socket.once('welcome', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  return {
    books,
    send(message) {
      if (!socket.connected) return 0;
      if (message.kind !== 'text') {
        socket.emit('chat.send', Buffer.from(message.data));
        return message.data.length;
      }
      let value: unknown = message.data;
      try {
        value = JSON.parse(message.data);
      } catch {
        // not JSON: sent as a string payload
      }
      const type = value !== null && typeof value === 'object' && typeof (value as { type?: unknown }).type === 'string' ? (value as { type: string }).type : 'chat.send';
      const id = wellFormedId(message.data);
      expect(books, id);
      // The acknowledgement carries the frame's one reply; socket.io calls it at most once.
      socket.emit(RESERVED.has(type) ? 'chat.send' : type, value, (reply: unknown) => {
        if (reply && typeof reply === 'object') note(books, reply as Record<string, unknown>);
      });
      return Buffer.byteLength(message.data);
    },
    bufferedAmount: () => 0,
    close: () => socket.close(),
  };
}

/** Runs the fuzzer to the end (or the deadline) and reports. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const window = options.window ?? 16;
  const socketioLanes = options.socketioLanes ?? Math.floor(options.lanes / 4);
  const prefix = options.userPrefix ?? 'fuzz';
  const report: FuzzReport = {
    seed: options.seed,
    lanes: options.lanes,
    connections: 0,
    framesSent: 0,
    bytesSent: 0,
    checkedFrames: 0,
    closedFrames: 0,
    replies: 0,
    mismatches: [],
    mismatchCount: 0,
    internal: 0,
    endings: {},
    elapsedMs: 0,
    cut: false,
  };
  const hostileLanes = options.hostileLanes ?? Math.floor(options.lanes / 2);
  const hostile = fuzzMessage(options.maxPayloadBytes, { fatal: true });
  const benign = fuzzMessage(options.maxPayloadBytes, { fatal: false });
  const mismatch = (line: string): void => {
    report.mismatchCount++;
    if (report.mismatches.length < 20) report.mismatches.push(line);
  };
  const finished: Books[] = [];
  const live: LaneConnection[] = [];

  async function lane(index: number): Promise<void> {
    const sio = index < socketioLanes;
    const arbitrary = index >= options.lanes - hostileLanes ? hostile : benign;
    let generation = 0;
    const open = async (): Promise<LaneConnection> => {
      const sub = `${prefix}-${index}-${generation++}`;
      for (let attempt = 0; ; attempt++) {
        try {
          const conn = await (sio ? openSio(options, sub) : openWs(options, sub));
          report.connections++;
          return conn;
        } catch (error) {
          if (attempt >= 5) throw error;
          await sleep(50 * (attempt + 1));
        }
      }
    };
    let conn = await open();
    let batch: FuzzMessage[] = [];
    let batchNo = 0;
    for (let i = 0; i < options.framesPerLane; i++) {
      if (Date.now() >= options.deadline) {
        report.cut = true;
        break;
      }
      if (batch.length === 0) batch = fc.sample(arbitrary, { seed: options.seed + index * 7919 + batchNo++ * 104_729, numRuns: 100 });
      if (conn.books.ended !== undefined) {
        finished.push(conn.books);
        conn = await open();
      }
      const bytes = conn.send(batch.pop()!);
      report.framesSent++;
      report.bytesSent += bytes;
      // Keep a bounded window in flight, as a pipelining client would; yield so replies are read.
      if (i % 8 === 0) await tick();
      const until = Date.now() + 10_000;
      while ((conn.books.outstanding > window || conn.bufferedAmount() > 1 << 20) && conn.books.ended === undefined && Date.now() < until) await sleep(1);
    }
    live.push(conn);
  }

  await Promise.all(Array.from({ length: options.lanes }, (_, i) => lane(i)));

  // The last replies: every open connection's frames are answered in order, so wait (bounded) for all.
  const settleUntil = Date.now() + (options.settleMs ?? 15_000);
  while (live.some((c) => c.books.ended === undefined && c.books.outstanding > 0) && Date.now() < settleUntil) await sleep(20);
  // A stray second reply would arrive right behind the first: give it a moment to show.
  await sleep(200);

  for (const conn of live) {
    const books = conn.books;
    if (books.ended === undefined) {
      books.ended = 'open';
      for (const [id, expected] of books.expected) {
        report.checkedFrames += expected;
        const got = books.got.get(id) ?? 0;
        if (got !== expected) mismatch(`${id}: ${expected} frame(s), ${got} repl(ies)`);
      }
    }
    finished.push(books);
    conn.close();
  }
  for (const books of finished) {
    // Open or closed, no id may get a reply that no frame asked for, nor more replies than frames.
    if (books.ended !== 'open') for (const n of books.expected.values()) report.closedFrames += n;
    for (const [id, got] of books.got) {
      const expected = books.expected.get(id) ?? 0;
      if (got > expected) mismatch(`${id}: ${expected} frame(s), ${got} repl(ies) (extra)`);
    }
    report.internal += books.internal;
    report.replies += books.replies;
    report.endings[books.ended!] = (report.endings[books.ended!] ?? 0) + 1;
  }
  report.elapsedMs = Date.now() - started;
  return report;
}

/** The seed from `BULWARK_FUZZ_SEED`, or a fresh one. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.BULWARK_FUZZ_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed)) throw new Error(`BULWARK_FUZZ_SEED must be an integer, got ${given}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
