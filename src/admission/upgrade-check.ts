/**
 * Is this request a WebSocket upgrade at all (RFC 6455 section 4.2.1)? Bulwark answers an
 * invalid one itself, before any guard runs and before any slot is taken, instead of leaving it
 * to `ws` (whose refusals happened after the slot was counted, and were never given back):
 * HTTP/1.0, a method other than GET, `Upgrade` not `websocket`, `Connection` without `upgrade`,
 * a `Sec-WebSocket-Key` that is not base64 of 16 bytes, or a header that must appear once
 * appearing twice -> 400; a `Sec-WebSocket-Version` other than 13 -> 426.
 */
import type { IncomingMessage } from 'node:http';

export type UpgradeProblem =
  | { reason: 'upgrade'; problem: 'http_version' | 'method' | 'upgrade_header' | 'connection_header' | 'key' | 'missing_version' }
  | { reason: 'upgrade'; problem: 'duplicate_header'; header: string }
  | { reason: 'version'; problem: 'version' };

/** base64 of exactly 16 bytes: 22 characters and `==`. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Headers a client may send once only; two copies are how request smuggling and cache poisoning start. */
const SINGLE = new Set(['host', 'upgrade', 'origin', 'authorization', 'sec-websocket-key', 'sec-websocket-version']);

function duplicated(rawHeaders: readonly string[]): string | undefined {
  let seen: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!SINGLE.has(name)) continue;
    seen ??= new Set();
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

export function checkUpgrade(req: IncomingMessage): UpgradeProblem | undefined {
  if (req.httpVersion !== '1.1') return { reason: 'upgrade', problem: 'http_version' };
  if (req.method !== 'GET') return { reason: 'upgrade', problem: 'method' };
  const header = duplicated(req.rawHeaders);
  if (header !== undefined) return { reason: 'upgrade', problem: 'duplicate_header', header };
  const upgrade = req.headers.upgrade;
  if (typeof upgrade !== 'string' || upgrade.trim().toLowerCase() !== 'websocket') return { reason: 'upgrade', problem: 'upgrade_header' };
  const connection = req.headers.connection;
  if (
    typeof connection !== 'string' ||
    !connection
      .toLowerCase()
      .split(',')
      .some((t) => t.trim() === 'upgrade')
  ) {
    return { reason: 'upgrade', problem: 'connection_header' };
  }
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY.test(key.trim())) return { reason: 'upgrade', problem: 'key' };
  const version = req.headers['sec-websocket-version'];
  if (version === undefined) return { reason: 'upgrade', problem: 'missing_version' };
  if (version.trim() !== '13') return { reason: 'version', problem: 'version' };
  return undefined;
}
