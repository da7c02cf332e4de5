/**
 * Shared set-up of the conformance suite: a server with limits loose enough that hundreds of raw
 * connections from one loopback address are never throttled, and a raw peer that is already
 * authenticated (so what a case observes is the framing rule, not the auth-first rule).
 */
import assert from 'node:assert/strict';
import { EventRecorder } from '../helpers/events.js';
import { startServer, type StartOptions, type TestServer } from '../helpers/server.js';
import { OP, upgrade, type FrameSpec, type RawPeer, type UpgradeOptions } from './wire.js';

export const LOOSE_RULE = { points: 1_000_000, durationMs: 60_000 } as const;

export function conformanceServer(limits: Record<string, unknown> = {}, extra: StartOptions['config'] = {}): Promise<TestServer> {
  return startServer({
    config: {
      abuse: { threshold: 1_000_000 },
      limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 1000, ...limits },
      rateLimits: { handshake: LOOSE_RULE, default: LOOSE_RULE, 'chat.send': LOOSE_RULE, 'room.create': LOOSE_RULE },
      ...extra,
    },
  });
}

/** A conformance server with a recorder of the security events it emits from the start. */
export async function recordedServer(limits: Record<string, unknown> = {}, extra: StartOptions['config'] = {}): Promise<{ server: TestServer; recorder: EventRecorder }> {
  const server = await conformanceServer(limits, extra);
  return { server, recorder: new EventRecorder(server) };
}

let counter = 0;

/** A raw peer past the upgrade and `auth`. */
export async function authedPeer(server: TestServer, options: UpgradeOptions = {}): Promise<RawPeer> {
  const peer = await upgrade(server.url, options);
  await peer.auth(await server.token(`raw-${process.pid}-${++counter}`));
  return peer;
}

/** Asserts the server closed with `code` (a close frame carrying it) and then ended the TCP connection. */
export async function assertClosedWith(peer: RawPeer, code: number): Promise<void> {
  const ending = await peer.ending();
  assert.notEqual(ending, 'open', `expected close ${code}, the connection stayed open`);
  assert.equal((ending as { code: number }).code, code);
}

/**
 * Sends `frames` (or whatever `send` writes) on a fresh authenticated peer and expects: close
 * `code`, exactly one `event` (with `detail.reason` equal to `reason`, when given), and no reply
 * to the offending message.
 */
export async function expectClosedWithEvent(
  server: TestServer,
  recorder: EventRecorder,
  send: FrameSpec[] | ((peer: RawPeer) => void),
  code: number,
  event: string,
  reason?: string,
): Promise<void> {
  const peer = await authedPeer(server);
  const mark = recorder.mark();
  if (typeof send === 'function') send(peer);
  else for (const f of send) peer.send(f);
  await assertClosedWith(peer, code);
  const events = await recorder.waitFor(mark, event);
  assert.equal(events.length, 1, 'one security event');
  if (reason !== undefined) assert.equal(events[0]!.detail?.reason, reason);
  assert.equal(peer.frames.filter((f) => f.opcode === OP.TEXT).length, 0, 'no reply to the offending message');
}

/** Asserts a working request/reply on the peer: the connection is healthy and answers in order. */
export async function assertAnswers(peer: RawPeer, id = `alive-${++counter}`): Promise<void> {
  peer.json({ type: 'room.list', id });
  const reply = await peer.nextJson((f) => f.id === id);
  assert.equal(reply.type, 'ack');
}

/** A text message split into `parts` fragments (the first TEXT, the rest CONTINUATION). */
export function fragments(text: Buffer | string, parts: number): Array<{ opcode: number; payload: Buffer; fin: boolean }> {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const size = Math.ceil(bytes.length / parts);
  const out: Array<{ opcode: number; payload: Buffer; fin: boolean }> = [];
  for (let i = 0; i < parts; i++) {
    out.push({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: bytes.subarray(i * size, (i + 1) * size), fin: i === parts - 1 });
  }
  return out;
}
