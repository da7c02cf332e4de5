/**
 * Shared tools of the per-frame defence suites (frames, policy, abuse): loose limits for tests
 * that are not about limits, a live recorder of security events, stored event rows, bounded
 * waits, unique names, and a way to present a chosen client IP through a trusted proxy.
 */
import type { TestServer } from '../helpers/server.js';
import { connect, type ConnectOptions, type Frame, type TestClient } from '../helpers/client.js';

export const LOOSE_RULE = { points: 1_000_000, durationMs: 60_000 } as const;

/** Limits loose enough that hundreds of frames and deliberate refusals never throttle or ban. */
export const LOOSE = {
  abuse: { threshold: 1_000_000 },
  limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 100, maxRoomsPerUser: 100_000 },
  rateLimits: {
    handshake: LOOSE_RULE,
    default: LOOSE_RULE,
    'chat.send': LOOSE_RULE,
    'room.create': LOOSE_RULE,
    'admin.broadcast': LOOSE_RULE,
  },
} as const;

/** `LOOSE` with some sections replaced. */
export function loose(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...LOOSE, ...extra };
}

export { EventRecorder, eventually, sleep, storedEvents, type Recorded } from '../helpers/events.js';

let counter = 0;
/** A unique name in the id alphabet. */
export function uniq(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

/** The error code of a reply, or 'ack'. */
export function outcome(reply: Frame): string {
  return reply.type === 'ack' ? 'ack' : String(reply.code);
}

/** Connects as `sub` appearing to come from `ip` (the server must trust 127.0.0.1 as a proxy). */
export function connectFrom(server: TestServer, sub: string, ip: string, options: ConnectOptions & { roles?: string[] } = {}): Promise<TestClient> {
  return connect(server, sub, { ...options, headers: { ...options.headers, 'X-Forwarded-For': ip } });
}

/** Creates a public room owned by `owner` and joins every client to it. */
export async function roomWith(owner: TestClient, members: TestClient[], visibility: 'public' | 'private' = 'public'): Promise<string> {
  const room = uniq('room');
  await owner.ok({ type: 'room.create', room, visibility });
  await owner.ok({ type: 'room.join', room });
  for (const m of members) {
    if (visibility === 'private') await owner.ok({ type: 'room.invite', room, user: String((m.welcome?.user as { id: string }).id) });
    await m.ok({ type: 'room.join', room });
  }
  return room;
}

/** Drops frames of a type already received. */
export function discard(client: TestClient, type: string): void {
  for (let i = client.frames.length - 1; i >= 0; i--) if (client.frames[i]!.type === type) client.frames.splice(i, 1);
}

/** The close code of a client's socket, or 'open' when it is still open after `ms`. */
export async function closeCode(client: TestClient, ms = 3000): Promise<number | 'open'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'open'>((resolve) => (timer = setTimeout(() => resolve('open'), ms)));
  const result = await Promise.race([client.closed.then((c) => c.code), timeout]);
  clearTimeout(timer);
  return result;
}
