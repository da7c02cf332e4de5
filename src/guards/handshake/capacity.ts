/**
 * Connection caps (contract section 2, step 3): the node's total (503 + Retry-After) and the
 * client IP's share (429). Handshakes still in flight count, so a burst cannot overshoot; the
 * counts include the handshake being checked, so "open >= max" means "this one would exceed".
 */
import type { HandshakeGuard } from './types.js';

/** Open connections plus handshakes in flight, including the one being checked. */
export interface CapacityCounts {
  total(): number;
  perIp(ip: string): number;
}

export function capacityGuard(counts: CapacityCounts, limits: { maxConnections: number; maxConnectionsPerIp: number }): HandshakeGuard {
  return {
    name: 'capacity',
    check: function capacity(req) {
      if (counts.total() > limits.maxConnections) {
        return { status: 503, event: 'capacity_refused', reason: 'capacity', retryAfterMs: 5000, detail: { scope: 'node' } };
      }
      if (counts.perIp(req.ip) > limits.maxConnectionsPerIp) {
        return { status: 429, event: 'capacity_refused', reason: 'ip_cap', retryAfterMs: 5000, detail: { scope: 'ip' } };
      }
      return undefined;
    },
  };
}
