/**
 * Runs frame guards in order around an answer: the first refusal (with its security event) or
 * short-circuit answer wins, otherwise `answer()` produces the reply. Every guard that let the
 * frame through is then told how it ended (idempotency keys settle here). Shared by the server's
 * pipeline and the embeddable guard.
 */
import type { Reply } from '../../domain/reply.js';
import type { SecurityAudit } from '../../security/audit.js';
import type { FrameContext, FrameGuard, FrameSender } from './types.js';

const GUARD_FAILED: Reply = { ok: false, code: 'INTERNAL' };

export async function runFrameGuards<C extends FrameSender>(
  guards: readonly FrameGuard[],
  audit: SecurityAudit,
  ctx: FrameContext<C>,
  /** Must not throw: map failures to a reply so every guard still hears the outcome. */
  answer: () => Promise<Reply>,
): Promise<Reply> {
  let reply: Reply | undefined;
  let passed = 0;
  try {
    for (; passed < guards.length; passed++) {
      let verdict = guards[passed]!.check(ctx);
      if (verdict instanceof Promise) verdict = await verdict;
      if (verdict === undefined) continue;
      if ('answer' in verdict) return verdict.answer;
      if (verdict.event) audit.emit(verdict.event, { ip: ctx.conn.ip, user: ctx.conn.userId, detail: { type: ctx.frame.type, ...verdict.detail } });
      reply = verdict;
      break;
    }
  } catch (error) {
    // A guard's dependency broke: the guards that let the frame through, and the one that threw
    // (it may have claimed state before failing), hear how it ended. An idempotency key must not
    // stay claimed by a frame that will never be answered.
    for (let i = 0; i <= passed && i < guards.length; i++) guards[i]!.after?.(ctx, GUARD_FAILED);
    throw error;
  }
  reply ??= await answer();
  for (let i = 0; i < passed; i++) guards[i]!.after?.(ctx, reply);
  return reply;
}
