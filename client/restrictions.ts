/**
 * Bans and mutes as the server reports them (docs/protocol.md "Abuse scoring and bans"), turned
 * into "until when" for the client: a close reason `banned until <ISO time>`, a refused handshake
 * `403` with `Retry-After`, or — in a browser, which never sees a refused handshake's status —
 * the answer of `GET` on the WebSocket URL over HTTP.
 */
export { banFromReason, bannedReason } from '../src/protocol/bans.js';

/** `ws://host/ws` → `http://host/ws`. */
export function httpUrlOf(wsUrl: string): string {
  return wsUrl.replace(/^ws(s?):/i, 'http$1:');
}

type Fetch = (
  url: string,
  init: { headers: Record<string, string>; signal?: AbortSignal; credentials?: 'same-origin' },
) => Promise<{
  status: number;
  json(): Promise<unknown>;
}>;

/**
 * Asks the server why a WebSocket that never opened was refused. Resolves with the end of a ban,
 * or undefined (not banned, no `fetch`, a cross-origin server that does not let us read, the
 * server unreachable): the caller then falls back to its normal backoff.
 */
export async function probeBan(wsUrl: string, token: string | undefined, timeoutMs = 5000): Promise<number | undefined> {
  const fetchImpl = (globalThis as { fetch?: Fetch }).fetch;
  if (!fetchImpl) return undefined;
  try {
    const signal = typeof AbortSignal !== 'undefined' && 'timeout' in AbortSignal ? AbortSignal.timeout(timeoutMs) : undefined;
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    const res = await fetchImpl(httpUrlOf(wsUrl), { headers, credentials: 'same-origin', ...(signal ? { signal } : {}) });
    if (res.status !== 403) return undefined;
    const body = (await res.json()) as { until?: unknown };
    return typeof body.until === 'number' && body.until > Date.now() ? body.until : undefined;
  } catch {
    return undefined;
  }
}
