/**
 * The shape every frame guard shares: it looks at a validated frame on a connection and either
 * lets it pass (`undefined`), refuses it with a wire error, or answers it itself (idempotent
 * replay). An expected "no" is a value; only a broken dependency throws.
 */
import type { Refusal, Reply } from '../../domain/reply.js';
import type { ClientFrame } from '../../protocol/frames.js';
import type { SecurityEventType } from '../../security/events.js';
import type { Connection } from '../../transport/connection.js';

/** Who sent a frame, as the guards see it: a connection, or a server API caller (src/api/publish.ts). */
export interface FrameSender {
  readonly ip: string;
  /** The subject rate, replay and spam state is kept under (a user id, or `apikey:<id>`). */
  readonly userId: string | undefined;
}

export interface FrameContext<C extends FrameSender = Connection> {
  readonly conn: C;
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
  check(ctx: FrameContext<FrameSender>): FrameVerdict | Promise<FrameVerdict>;
  /**
   * Called with the final reply of every frame this guard let through (refused later or answered),
   * and with `INTERNAL` when a guard's check threw, this one's included.
   */
  after?(ctx: FrameContext<FrameSender>, reply: Reply): void;
}
