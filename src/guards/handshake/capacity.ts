/**
 * Connection caps (contract section 2, step 3): the node's total (503 + Retry-After) and the
 * client IP's share (429); and the pending-auth budget of docs/protocol.md "Under attack" (the
 * IP's share 429, the node's 503). Admission takes a slot atomically (`AdmissionCounts`), so
 * this step is not a guard over counts read separately: it turns the counts' "no" into the
 * refusal the client gets.
 */
import type { SlotScope } from '../../admission/slots.js';
import type { HandshakeRefusal } from './types.js';

/** How long a client refused for capacity should wait: long enough for churn to free a place. */
export const CAPACITY_RETRY_MS = 5000;

export function capacityRefusal(scope: SlotScope): HandshakeRefusal {
  return scope === 'node'
    ? { reason: 'capacity', event: 'capacity_refused', retryAfterMs: CAPACITY_RETRY_MS, detail: { scope: 'node' } }
    : { reason: 'ip_cap', event: 'capacity_refused', retryAfterMs: CAPACITY_RETRY_MS, detail: { scope: 'ip' } };
}

export function pendingAuthRefusal(scope: SlotScope, retryAfterMs: number): HandshakeRefusal {
  return scope === 'node'
    ? { reason: 'pending_full', event: 'capacity_refused', retryAfterMs, detail: { scope: 'pending_node' } }
    : { reason: 'pending_ip', event: 'capacity_refused', retryAfterMs, detail: { scope: 'pending_ip' } };
}
