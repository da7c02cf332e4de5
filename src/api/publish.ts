/**
 * The server API's writes (docs/protocol.md "Server API") on the path of the frames they mirror:
 * a publish runs the `chat.send` guards (replay when an idempotency key is given, then text —
 * length, active content, sanitization — then spam) and the same commit-then-deliver
 * (`Messages.post`); a broadcast runs the `admin.broadcast` text guard and the same announcement.
 * The per-frame rate guard is left out: the API is rate-limited per key before this runs.
 *
 * Guard state (idempotency keys, spam memory, mutes) is kept under the key's subject
 * `apikey:<id>`, a namespace no token subject may enter (src/auth/identity.ts), so one backend's
 * repeats never count against a user's, or another key's.
 */
import { API_KEY_SUBJECT_PREFIX } from '../auth/identity.js';
import type { Author, Messages } from '../domain/messages.js';
import { ok, type Reply } from '../domain/reply.js';
import { runFrameGuards } from '../guards/frame/run.js';
import type { FrameGuard, FrameSender } from '../guards/frame/types.js';
import type { ClientFrameOf } from '../protocol/frames.js';
import type { SecurityAudit } from '../security/audit.js';

/** The author of an API message that names none, and the `from` of an API broadcast. */
export const SYSTEM_USER: Author = Object.freeze({ id: 'system', name: 'System' });

/** The guard subject of a key. */
export const keySubject = (keyId: string): string => `${API_KEY_SUBJECT_PREFIX}${keyId}`;

export interface ApiWritesDeps {
  messages: Messages;
  audit: SecurityAudit;
  /** The frame guards after `rate`, in their order (replay, text, spam). */
  guards: readonly FrameGuard[];
  onError(err: unknown): void;
}

export interface Publish {
  room: string;
  text: string;
  author: Author;
  /** The `Idempotency-Key` header: like `chat.send`'s `id`, for `replay.windowMs`. */
  idempotencyKey?: string | undefined;
}

export class ApiWrites {
  private readonly withReplay: readonly FrameGuard[];
  private readonly withoutReplay: readonly FrameGuard[];

  constructor(private readonly deps: ApiWritesDeps) {
    this.withReplay = deps.guards;
    // Without an idempotency key there is nothing to replay: no key is remembered (nor claimed in Redis).
    this.withoutReplay = deps.guards.filter((g) => g.name !== 'replay');
  }

  /** `201 {message}` material: the full stored message, or the refusal `chat.send` would get. */
  publish(sender: FrameSender, input: Publish): Promise<Reply> {
    // Without an idempotency key the id is never read (no replay guard runs): no random id per call.
    const id = input.idempotencyKey ?? 'api';
    const frame: ClientFrameOf<'chat.send'> = { type: 'chat.send', id, room: input.room, text: input.text };
    const guards = input.idempotencyKey === undefined ? this.withoutReplay : this.withReplay;
    return runFrameGuards(guards, this.deps.audit, { conn: sender, frame }, () =>
      this.safely(() => this.deps.messages.post(input.author, frame as ClientFrameOf<'chat.send'>)),
    ).then(ApiWrites.inBody);
  }

  /** An `announcement` from the system identity to every connection on every node. */
  broadcast(sender: FrameSender, text: string): Promise<Reply> {
    const frame: ClientFrameOf<'admin.broadcast'> = { type: 'admin.broadcast', id: 'api', text };
    return runFrameGuards(this.withoutReplay, this.deps.audit, { conn: sender, frame }, () =>
      this.safely(() => ok({ ts: this.deps.messages.announce((frame as ClientFrameOf<'admin.broadcast'>).text, SYSTEM_USER.name) })),
    ).then(ApiWrites.inBody);
  }

  /** Guard refusals name frame fields (`text`); over HTTP they are in the body. */
  private static inBody(reply: Reply): Reply {
    if (reply.ok || !reply.details) return reply;
    return { ...reply, details: reply.details.map((d) => ({ ...d, path: `body.${d.path}` })) };
  }

  private async safely(work: () => Promise<Reply> | Reply): Promise<Reply> {
    try {
      return await work();
    } catch (err) {
      this.deps.onError(err);
      return { ok: false, code: 'INTERNAL' };
    }
  }
}
