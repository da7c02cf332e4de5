/**
 * Connection caps (contract section 2, step 3): the node's total (503 + Retry-After) and the
 * client IP's share (429). Handshakes that passed this check but are not open yet count too, so
 * a burst cannot overshoot while later (asynchronous) guards run.
 */
import type { HandshakeGuard } from './types.js';

/** Open connections plus admitted handshakes in flight (not the one being checked). */
export interface CapacityCounts {
  total(): number;
  perIp(ip: string): number;
}

export function capacityGuard(counts: CapacityCounts, limits: { maxConnections: number; maxConnectionsPerIp: number }): HandshakeGuard {
  return {
    name: 'capacity',
    check: function capacity(req) {
      if (counts.total() >= limits.maxConnections) {
        return { status: 503, event: 'capacity_refused', reason: 'capacity', retryAfterMs: 5000, detail: { scope: 'node' } };
      }
      if (counts.perIp(req.ip) >= limits.maxConnectionsPerIp) {
        return { status: 429, event: 'capacity_refused', reason: 'ip_cap', retryAfterMs: 5000, detail: { scope: 'ip' } };
      }
      return undefined;
    },
  };
}
