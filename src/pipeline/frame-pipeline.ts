/**
 * The per-frame path, in one place: parse -> authentication state -> schema -> guards (rate,
 * replay, sanitize, spam, in the order given) -> domain -> exactly one reply per `id`.
 * The transport hands over text frames that already passed the size and binary checks
 * (`handleText`), or frames it already decoded (`handleValue`, Socket.IO); past parsing both
 * take the same path.
 */
import type { Logger } from 'pino';
import type { SessionAuth } from '../auth/session-auth.js';
import type { Config } from '../config/schema.js';
import type { Reply } from '../domain/reply.js';
import type { Metrics } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import { ERROR_MESSAGES, type ErrorCode, type ErrorDetail } from '../protocol/errors.js';
import type { ClientFrame, ErrorFrame, ServerFrame } from '../protocol/frames.js';
import type { SecurityAudit } from '../security/audit.js';
import type { SecurityEventType } from '../security/events.js';
import type { Connection, DecodedFrame, Inbound } from '../transport/connection.js';
import { checkFrame, parseFrame, replyId, structureProblem } from '../guards/frame/parse.js';
import { validateFrame } from '../guards/frame/schema.js';
import type { FrameContext, FrameGuard } from '../guards/frame/types.js';
import { runFrameGuards } from '../guards/frame/run.js';

/** A frame's `type` for an event detail: bounded, and never `String()` of a client object (whose own `toString` key would make it throw). */
function typeLabel(type: unknown): string {
  return typeof type === 'string' ? type.slice(0, 32) : typeof type;
}

export type Dispatch = (conn: Connection, frame: ClientFrame) => Promise<Reply> | Reply;

/** Where one frame's reply goes when it does not go over the connection (a Socket.IO ack). */
export type Responder = (frame: ServerFrame) => void;

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
    this.enqueue(conn, raw);
  }

  /**
   * A frame a transport already decoded. `type`, when given, is the type the transport carried it
   * under and must equal the frame's own; `respond` takes the frame's reply (and only it).
   */
  handleValue(conn: Connection, frame: DecodedFrame): void {
    this.enqueue(conn, frame);
  }

  private enqueue(conn: Connection, input: Inbound): void {
    if (conn.busy) {
      if (conn.inbox.push(input) === INBOX_HIGH_WATER) conn.pauseInput();
      return;
    }
    this.process(conn, input);
  }

  private process(conn: Connection, input: Inbound): void {
    conn.busy = true;
    let released = false;
    // Released when the frame is answered, or earlier when its writes are queued in order
    // (Session.ordered): then a pipelining client's next frame joins the same store batch.
    const release = (): void => {
      if (released) return;
      released = true;
      if (conn.releaseOrder === release) conn.releaseOrder = undefined;
      this.next(conn);
    };
    conn.releaseOrder = release;
    const pending = this.step(conn, input);
    if (pending) void pending.then(release);
    else release();
  }

  private next(conn: Connection): void {
    conn.busy = false;
    while (!conn.busy && !conn.closing && conn.inbox.length > 0) this.process(conn, conn.inbox.shift()!);
    if (conn.inbox.length <= INBOX_LOW_WATER) conn.resumeInput();
  }

  /** Handles one frame; returns a promise when the answer is asynchronous. Parsing is the only step that depends on the transport. */
  private step(conn: Connection, input: Inbound): Promise<void> | undefined {
    const decoded = typeof input === 'string' ? undefined : input;
    const respond = decoded?.respond;
    const parsed = decoded ? checkFrame(decoded.value) : parseFrame(input as string);
    if (!parsed.ok && parsed.reason !== 'too_complex') {
      if (!conn.authenticated) return this.unauthenticated(conn, 'not_json');
      return this.malformed(conn, undefined, 'BAD_REQUEST', 'malformed_frame', { reason: parsed.reason }, undefined, respond);
    }
    // From here the frame is a JSON object: whatever is wrong with it is INVALID_PAYLOAD with
    // details, answered with its `id` when that is well-formed (docs/protocol.md "Frames").
    const value = parsed.value;
    const id = replyId(value);
    const problem = structureProblem(parsed);
    if (problem) {
      const { reason, details } = problem;
      if (!conn.authenticated)
        return this.unauthenticated(conn, reason === 'bad_id' ? 'invalid_auth_frame' : reason, value, { ok: false, code: 'INVALID_PAYLOAD', details }, respond);
      return this.malformed(conn, id, 'INVALID_PAYLOAD', 'invalid_payload', { type: typeLabel(value['type']), reason }, details, respond);
    }
    if (!conn.authenticated && value['type'] !== 'auth') return this.unauthenticated(conn, 'not_auth_first', value, { ok: false, code: 'UNAUTHENTICATED' }, respond);
    if (typeof value['type'] !== 'string') {
      return this.malformed(conn, id, 'INVALID_PAYLOAD', 'invalid_payload', undefined, [{ path: 'type', message: 'required string' }], respond);
    }
    // A frame sent under one name but typed as another (Socket.IO event `chat.send` carrying a
    // `room.delete`) would slip past anything that trusts the name: refuse it.
    if (decoded?.type !== undefined && decoded.type !== value['type']) {
      return this.malformed(conn, id, 'BAD_REQUEST', 'malformed_frame', { reason: 'type_mismatch' }, undefined, respond);
    }
    const checked = validateFrame(value);
    if (!checked.ok) {
      if (!conn.authenticated)
        return this.unauthenticated(
          conn,
          'invalid_auth_frame',
          value,
          { ok: false, code: 'INVALID_PAYLOAD', ...(checked.unknownType ? {} : { details: checked.details }) },
          respond,
        );
      if (checked.unknownType) return this.malformed(conn, id, 'UNKNOWN_TYPE', 'unknown_type', { type: typeLabel(value['type']) }, undefined, respond);
      return this.malformed(conn, id, 'INVALID_PAYLOAD', 'invalid_payload', { type: value['type'] }, checked.details, respond);
    }
    const frame = checked.frame;
    this.deps.metrics.frameIn(frame.type);
    if (frame.type === 'auth') {
      if (conn.authenticated) {
        this.reply(conn, id, { ok: false, code: 'BAD_REQUEST', message: 'Already authenticated.' }, respond);
        return undefined;
      }
      return this.deps.auth
        .authFrame(conn, frame.token, id, (reply) => this.reply(conn, id, reply))
        .catch((error: unknown) => {
          this.deps.log.error({ err: error }, 'authentication failed unexpectedly');
          if (conn.closing) return;
          if (id !== undefined) this.reply(conn, id, { ok: false, code: 'INTERNAL' });
          conn.close(CLOSE.INTERNAL, 'internal error');
        });
    }
    return this.run(conn, { conn, frame }, id, respond);
  }

  private async run(conn: Connection, ctx: FrameContext, id: string | undefined, respond: Responder | undefined): Promise<void> {
    let reply: Reply;
    try {
      reply = await this.guardsThenDispatch(ctx);
    } catch (error) {
      this.deps.log.error({ err: error, type: ctx.frame.type, conn: conn.connectionId }, 'frame handler failed');
      reply = { ok: false, code: 'INTERNAL' };
    }
    this.reply(conn, id, reply, respond);
  }

  private guardsThenDispatch(ctx: FrameContext): Promise<Reply> {
    return runFrameGuards(this.deps.guards, this.deps.audit, ctx, async () => {
      try {
        return ctx.frame.type === 'auth.refresh' ? await this.deps.auth.refresh(ctx.conn, ctx.frame.token) : await this.deps.dispatch(ctx.conn, ctx.frame);
      } catch (error) {
        this.deps.log.error({ err: error, type: ctx.frame.type, conn: ctx.conn.connectionId }, 'frame handler failed');
        return { ok: false, code: 'INTERNAL' };
      }
    });
  }

  /**
   * Before authentication a refused frame closes the connection 4401. A frame that carries an
   * `id` first gets its one reply (`error` with that `id`, or without it when the `id` itself is
   * malformed), so a client waiting on it learns why instead of only seeing the close.
   */
  private unauthenticated(conn: Connection, reason: string, value?: Record<string, unknown>, reply?: Reply, respond?: Responder): undefined {
    this.deps.audit.emit('auth_failed', { ip: conn.ip, detail: { reason } });
    if (value && reply && Object.prototype.hasOwnProperty.call(value, 'id')) this.reply(conn, replyId(value), reply, respond);
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
    respond?: Responder,
  ): undefined {
    this.deps.audit.emit(event, { ip: conn.ip, user: conn.userId, detail });
    this.reply(conn, id, details ? { ok: false, code, details } : { ok: false, code }, respond);
    if (++conn.malformed >= this.deps.config.limits.maxMalformedFrames) {
      this.deps.audit.emit('malformed_limit', { ip: conn.ip, user: conn.userId, detail: { count: conn.malformed } });
      conn.close(CLOSE.MALFORMED, 'too many malformed frames');
    }
    return undefined;
  }

  /** Sends a frame's one reply: to `respond` when the transport gave one, else over the connection. */
  reply(conn: Connection, id: string | undefined, reply: Reply, respond?: Responder): void {
    const send = respond ?? ((frame: ServerFrame) => conn.send(frame));
    if (reply.ok) {
      if (id === undefined) return;
      send({ type: 'ack', id, ...reply.body });
      return;
    }
    this.deps.metrics.errors.inc({ code: reply.code });
    const frame: ErrorFrame = { type: 'error', code: reply.code, message: reply.message ?? ERROR_MESSAGES[reply.code] };
    if (id !== undefined) frame.id = id;
    if (reply.details) frame.details = reply.details;
    if (reply.retryAfterMs !== undefined) frame.retryAfterMs = reply.retryAfterMs;
    send(frame);
  }
}
