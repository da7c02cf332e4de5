/**
 * Helpers for the SDK tests: a Node client pointed at a test server (with `ws` and the origin a
 * page served by that server would send), and bounded waits on SDK events.
 */
import WebSocket from 'ws';
import { connect, type BulwarkClient, type ClientEvents, type ConnectOptions } from '../../client/index.js';
import type { TestServer } from '../helpers/server.js';

export function sdk(server: Pick<TestServer, 'wsUrl' | 'origin'>, options: Partial<ConnectOptions> & Pick<ConnectOptions, 'token'>): BulwarkClient {
  return connect({ url: server.wsUrl, origin: server.origin, WebSocket, ...options });
}

/** Resolves with the next event of a type matching `match`, or rejects after `timeoutMs`. */
export function nextEvent<K extends keyof ClientEvents>(
  client: BulwarkClient,
  type: K,
  match: (payload: ClientEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for the client event ${String(type)}`));
    }, timeoutMs);
    const off = client.on(type, (payload) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Polls `condition` every 20 ms until true, or throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A promise with its resolve function, to hold a token provider until the test lets go. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
