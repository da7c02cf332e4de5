/**
 * The shape every frame guard shares: it looks at a validated frame on a connection and either
 * lets it pass (`undefined`), refuses it with a wire error, or answers it itself (idempotent
 * replay). An expected "no" is a value; only a broken dependency throws.
 */
import type { Refusal, Reply } from '../../domain/reply.js';
import type { ClientFrame } from '../../protocol/frames.js';
import type { SecurityEventType } from '../../security/events.js';
import type { Connection } from '../../transport/connection.js';

export interface FrameContext {
  readonly conn: Connection;
  /** The validated frame; guards may replace fields (sanitized text). */
  frame: ClientFrame;
}

export interface GuardRefusal extends Refusal {
  /** Security event to record for this refusal. */
  event?: SecurityEventType;
  detail?: Record<string, unknown>;
}

export type FrameVerdict = undefined | GuardRefusal | { answer: Reply };

export interface FrameGuard {
  readonly name: string;
  check(ctx: FrameContext): FrameVerdict | Promise<FrameVerdict>;
  /**
   * Called with the final reply of every frame this guard let through (refused later or answered),
   * and with `INTERNAL` when a guard's check threw, this one's included.
   */
  after?(ctx: FrameContext, reply: Reply): void;
}
