/**
 * Security-event tools shared by the attack suites: a live recorder of what the server emits
 * (the same path as the log line and the stored row), the stored rows, and bounded waits.
 */
import type { SecurityEventRecord } from '../../src/store/store.js';
import type { TestServer } from './server.js';

export interface Recorded {
  type: string;
  severity: string;
  ip: string | undefined;
  user: string | undefined;
  detail: Record<string, unknown> | undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` until true or the deadline. */
export async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 3000, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}

/** Records every security event the server emits from now on. */
export class EventRecorder {
  readonly events: Recorded[] = [];
  /** Events of the types passed as `apart`, kept out of `events`. */
  readonly consequences: Recorded[] = [];

  constructor(server: TestServer, apart: ReadonlySet<string> = new Set()) {
    server.bulwark.audit.onEvent((type, event) => {
      const recorded = { type, severity: event.severity, ip: event.ip, user: event.user, detail: event.detail };
      (apart.has(type) ? this.consequences : this.events).push(recorded);
    });
  }

  /** A mark to count events emitted after it. */
  mark(): number {
    return this.events.length;
  }

  since(mark: number, type?: string): Recorded[] {
    const slice = this.events.slice(mark);
    return type === undefined ? slice : slice.filter((e) => e.type === type);
  }

  /** Waits (bounded) until at least `n` events of `type` were emitted after `mark`. */
  async waitFor(mark: number, type: string, n = 1, timeoutMs = 3000): Promise<Recorded[]> {
    await eventually(() => this.since(mark, type).length >= n, timeoutMs);
    return this.since(mark, type);
  }
}

/** The stored `security_events` rows (after writing pending repeat counts and flushing the store). */
export async function storedEvents(server: TestServer, type?: string): Promise<SecurityEventRecord[]> {
  server.bulwark.audit.flush();
  await server.bulwark.store.flush();
  const rows = await server.bulwark.store.listSecurityEvents(0, 1_000_000);
  return type === undefined ? rows : rows.filter((r) => r.type === type);
}
