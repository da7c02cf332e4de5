/**
 * The per-frame path, in one place: parse -> authentication state -> schema -> guards (rate,
 * replay, sanitize, spam, in the order given) -> domain -> exactly one reply per `id`.
 * The transport hands over text frames that already passed the size and binary checks.
 */
import type { Logger } from 'pino';
import type { SessionAuth } from '../auth/session-auth.js';
import type { Config } from '../config/schema.js';
import type { Reply } from '../domain/reply.js';
import type { Metrics } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import { ERROR_MESSAGES, type ErrorCode, type ErrorDetail } from '../protocol/errors.js';
import type { ClientFrame, ErrorFrame } from '../protocol/frames.js';
import type { SecurityAudit } from '../security/audit.js';
import type { SecurityEventType } from '../security/events.js';
import type { Connection } from '../transport/connection.js';
import { parseFrame, replyId } from './frame/parse.js';
import { validateFrame } from './frame/schema.js';
import type { FrameContext, FrameGuard } from './frame/types.js';

export type Dispatch = (conn: Connection, frame: ClientFrame) => Promise<Reply> | Reply;

export interface PipelineDeps {
  config: Config;
  audit: SecurityAudit;
  metrics: Metrics;
  log: Logger;
  auth: SessionAuth;
  guards: readonly FrameGuard[];
  dispatch: Dispatch;
}

/**
 * Frames of one connection are handled one after another, in arrival order, so a client may
 * pipeline `room.create` then `room.join` and get what it expects. Frames that arrive while one
 * is in progress wait in a short inbox; past the high-water mark the transport stops reading
 * from the socket, so TCP backpressure, not server memory, absorbs a flood.
 */
export const INBOX_HIGH_WATER = 64;
const INBOX_LOW_WATER = 16;

export class FramePipeline {
  constructor(private readonly deps: PipelineDeps) {}

  handleText(conn: Connection, raw: string): void {
    if (conn.busy) {
      if (conn.inbox.push(raw) === INBOX_HIGH_WATER) conn.pauseInput();
      return;
    }
    this.process(conn, raw);
  }

  private process(conn: Connection, raw: string): void {
    const pending = this.step(conn, raw);
    if (!pending) return;
    conn.busy = true;
    void pending.then(() => this.next(conn));
  }

  private next(conn: Connection): void {
    conn.busy = false;
    while (!conn.busy && !conn.closing && conn.inbox.length > 0) this.process(conn, conn.inbox.shift()!);
    if (conn.inbox.length <= INBOX_LOW_WATER) conn.resumeInput();
  }

  /** Handles one frame; returns a promise when the answer is asynchronous. */
  private step(conn: Connection, raw: string): Promise<void> | undefined {
    const parsed = parseFrame(raw);
    if (!parsed.ok) {
      if (!conn.authenticated) return this.unauthenticated(conn, 'not_json');
      return this.malformed(conn, undefined, 'BAD_REQUEST', 'malformed_frame', { reason: parsed.reason });
    }
    const value = parsed.value;
    const id = replyId(value);
    if (!conn.authenticated && value['type'] !== 'auth') return this.unauthenticated(conn, 'not_auth_first');
    if (typeof value['type'] !== 'string') {
      return this.malformed(conn, id, 'INVALID_PAYLOAD', 'invalid_payload', undefined, [{ path: 'type', message: 'required string' }]);
    }
    const checked = validateFrame(value);
    if (!checked.ok) {
      if (!conn.authenticated) return this.unauthenticated(conn, 'invalid_auth_frame');
      if (checked.unknownType) return this.malformed(conn, id, 'UNKNOWN_TYPE', 'unknown_type', { type: String(value['type']).slice(0, 32) });
      return this.malformed(conn, id, 'INVALID_PAYLOAD', 'invalid_payload', { type: value['type'] }, checked.details);
    }
    const frame = checked.frame;
    this.deps.metrics.framesIn.inc({ type: frame.type });
    if (frame.type === 'auth') {
      if (conn.authenticated) {
        this.reply(conn, id, { ok: false, code: 'BAD_REQUEST', message: 'Already authenticated.' });
        return undefined;
      }
      return this.deps.auth.authFrame(conn, frame.token, id).catch((error: unknown) => {
        this.deps.log.error({ err: error }, 'authentication failed unexpectedly');
        conn.close(CLOSE.INTERNAL, 'internal error');
      });
    }
    return this.run(conn, { conn, frame }, id);
  }

  private async run(conn: Connection, ctx: FrameContext, id: string | undefined): Promise<void> {
    let reply: Reply;
    try {
      reply = await this.guardsThenDispatch(ctx);
    } catch (error) {
      this.deps.log.error({ err: error, type: ctx.frame.type, conn: conn.connectionId }, 'frame handler failed');
      reply = { ok: false, code: 'INTERNAL' };
    }
    this.reply(conn, id, reply);
  }

  private async guardsThenDispatch(ctx: FrameContext): Promise<Reply> {
    const { guards, audit } = this.deps;
    let reply: Reply | undefined;
    let passed = 0;
    for (; passed < guards.length; passed++) {
      let verdict = guards[passed]!.check(ctx);
      if (verdict instanceof Promise) verdict = await verdict;
      if (verdict === undefined) continue;
      if ('answer' in verdict) return verdict.answer;
      if (verdict.event) audit.emit(verdict.event, { ip: ctx.conn.ip, user: ctx.conn.userId, detail: { type: ctx.frame.type, ...verdict.detail } });
      reply = verdict;
      break;
    }
    try {
      reply ??= ctx.frame.type === 'auth.refresh' ? await this.deps.auth.refresh(ctx.conn, ctx.frame.token) : await this.deps.dispatch(ctx.conn, ctx.frame);
    } catch (error) {
      reply = { ok: false, code: 'INTERNAL' };
      this.deps.log.error({ err: error, type: ctx.frame.type, conn: ctx.conn.connectionId }, 'frame handler failed');
    }
    // Every guard that let the frame through learns how it ended (idempotency keys settle here).
    for (let i = 0; i < passed; i++) guards[i]!.after?.(ctx, reply);
    return reply;
  }

  private unauthenticated(conn: Connection, reason: string): undefined {
    this.deps.audit.emit('auth_failed', { ip: conn.ip, detail: { reason } });
    conn.close(CLOSE.UNAUTHENTICATED, 'authentication required');
    return undefined;
  }

  private malformed(
    conn: Connection,
    id: string | undefined,
    code: ErrorCode,
    event: SecurityEventType,
    detail?: Record<string, unknown>,
    details?: ErrorDetail[],
  ): undefined {
    this.deps.audit.emit(event, { ip: conn.ip, user: conn.userId, detail });
    this.reply(conn, id, details ? { ok: false, code, details } : { ok: false, code });
    if (++conn.malformed >= this.deps.config.limits.maxMalformedFrames) {
      this.deps.audit.emit('malformed_limit', { ip: conn.ip, user: conn.userId, detail: { count: conn.malformed } });
      conn.close(CLOSE.MALFORMED, 'too many malformed frames');
    }
    return undefined;
  }

  reply(conn: Connection, id: string | undefined, reply: Reply): void {
    if (reply.ok) {
      if (id === undefined) return;
      conn.send({ type: 'ack', id, ...reply.body });
      return;
    }
    this.deps.metrics.errors.inc({ code: reply.code });
    const frame: ErrorFrame = { type: 'error', code: reply.code, message: reply.message ?? ERROR_MESSAGES[reply.code] };
    if (id !== undefined) frame.id = id;
    if (reply.details) frame.details = reply.details;
    if (reply.retryAfterMs !== undefined) frame.retryAfterMs = reply.retryAfterMs;
    conn.send(frame);
  }
}
