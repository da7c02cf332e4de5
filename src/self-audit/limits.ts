/**
 * Limits on one client's handshakes: a cap on its concurrent connections and a rate limit on its
 * handshakes. Each probe stops at the first refusal, so it costs the server — and the auditing
 * address's abuse score — one refusal each.
 */
import type { Duplex } from 'node:stream';
import type { Probe } from './probe.js';
import type { CheckResult } from './types.js';

/** The most handshakes one limit probe sends. */
export const LIMIT_PROBE_MAX = 60;

export async function checkConnectionCap(probe: Probe): Promise<CheckResult> {
  const id = 'connection-cap';
  const title = 'Connections per client capped';
  const sockets: Duplex[] = [];
  try {
    for (let i = 1; i <= LIMIT_PROBE_MAX; i++) {
      const r = await probe.handshake({ keep: true, retry: false });
      if (r.socket) {
        sockets.push(r.socket);
        continue;
      }
      const evidence = `${i - 1} unauthenticated connection(s) held open, the next → ${r.status || r.error}${r.headers['retry-after'] ? ` (Retry-After: ${r.headers['retry-after']})` : ''}`;
      if (r.status === 429 || r.status === 503) return { id, title, status: 'pass', evidence, fix: '' };
      return { id, title, status: 'warn', evidence: `${evidence} (expected 429 or 503)`, fix: 'Check what refuses the upgrade.' };
    }
    return {
      id,
      title,
      status: 'fail',
      evidence: `${LIMIT_PROBE_MAX} concurrent unauthenticated connections from one address were all accepted`,
      fix: 'Keep limits.maxConnectionsPerIp (default 50), limits.maxPendingAuthPerIp and rateLimits.handshake at safe values; behind a proxy, list it in trustProxy so each client is counted by its own address.',
    };
  } finally {
    for (const s of sockets) s.destroy();
  }
}

export async function checkHandshakeRate(probe: Probe): Promise<CheckResult> {
  const id = 'handshake-rate';
  const title = 'Handshake rate limited';
  for (let i = 1; i <= LIMIT_PROBE_MAX; i++) {
    // No subprotocol: the handshake spends a rate point, then is refused 400 without opening a socket.
    const r = await probe.handshake({ protocols: [], retry: false });
    if (r.status === 429) {
      const retry = r.headers['retry-after'];
      return {
        id,
        title,
        status: retry ? 'pass' : 'warn',
        evidence: `handshake ${i} of a burst → 429${retry ? ` with Retry-After: ${retry}` : ' without Retry-After'}`,
        fix: retry ? '' : 'Send Retry-After with 429 so clients back off.',
      };
    }
    if (r.status === 0) return { id, title, status: 'warn', evidence: `handshake ${i} → ${r.error}`, fix: 'Check that the target answers.' };
  }
  return {
    id,
    title,
    status: 'fail',
    evidence: `${LIMIT_PROBE_MAX} handshakes in a burst from one address, none refused 429`,
    fix: 'Set rateLimits.handshake (default 20 per 10 s per IP); behind a proxy, list it in trustProxy so the limit applies per client.',
  };
}
