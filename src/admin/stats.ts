/**
 * The admin console's live numbers, from this node's own counters: open connections, messages
 * received, refusals by reason (handshake refusals by reason, frame errors by code). Counters are
 * cumulative; the console turns two readings into rates (messages/s, refusals/min).
 */
import type { Metrics } from '../observability/metrics.js';

export interface LiveNumbers {
  /** Server time of the reading (ms). */
  ts: number;
  node: string;
  connections: number;
  /** `chat.send` frames received since the node started. */
  messages: number;
  /** Refusals since the node started: `handshake:<reason>` and `frame:<error code>`. */
  refusals: Record<string, number>;
}

export async function liveNumbers(metrics: Metrics, node: string, connections: number): Promise<LiveNumbers> {
  const [framesIn, handshake, errors] = await Promise.all([metrics.framesIn.get(), metrics.handshakeRefusals.get(), metrics.errors.get()]);
  const refusals: Record<string, number> = {};
  for (const v of handshake.values) refusals[`handshake:${String(v.labels.reason)}`] = v.value;
  for (const v of errors.values) refusals[`frame:${String(v.labels.code)}`] = v.value;
  const messages = framesIn.values.find((v) => v.labels.type === 'chat.send')?.value ?? 0;
  return { ts: Date.now(), node, connections, messages, refusals };
}
