/**
 * `bulwark/server`: a typed Node.js client of the server API for backends (docs/protocol.md
 * "Server API"). One method per endpoint; every refusal is a `BulwarkApiError` carrying the HTTP
 * status, the wire error code and, for `RATE_LIMITED` and muted `SPAM`, `retryAfterMs`.
 *
 * ```ts
 * import { BulwarkServer } from 'bulwark/server';
 * const api = new BulwarkServer({ url: 'https://chat.example.com', apiKey: process.env.BULWARK_API_KEY! });
 * await api.publish('orders', 'Order #1234 shipped', { idempotencyKey: 'order-1234-shipped' });
 * ```
 *
 * Uses the global `fetch` (Node.js 20+); no dependency. The key never appears in an error.
 */
import type { ErrorCode, ErrorDetail } from '../protocol/errors.js';
import type { Message } from '../protocol/frames.js';

export type { ErrorCode, ErrorDetail, Message };

export interface BulwarkServerOptions {
  /** The server's base URL, e.g. `https://chat.example.com`. */
  url: string;
  /** A key from `bulwark apikeys create` (`bwk_…`). */
  apiKey: string;
  /** Per request. @default 10000 */
  timeoutMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

export interface UserRef {
  id: string;
  name: string;
}

export interface PublishOptions {
  /** The author shown with the message. @default the system identity `{id: "system", name: "System"}` */
  user?: UserRef;
  /** The same key again within the server's replay window returns the first message and stores nothing. 1-64 of `A-Za-z0-9_-`. */
  idempotencyKey?: string;
}

export interface Published {
  message: Message;
  /** True when `idempotencyKey` was seen before: `message` is the first one, nothing was stored again. */
  duplicate: boolean;
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  /** 1-100. @default 100 */
  limit?: number;
}

export interface HistoryPage {
  room: string;
  /** Ascending `seq`. */
  messages: Message[];
  hasMore: boolean;
}

export interface Presence {
  room: string;
  members: UserRef[];
}

export interface DisconnectOptions {
  /** 1000 or 4000-4999. @default 4403 */
  code?: number;
  /** Printable ASCII, at most 100 characters. */
  reason?: string;
}

export interface Disconnected {
  user: string;
  code: number;
  reason: string;
}

/** A refusal from the server (or `INTERNAL` with status 0 when it could not be reached or answered garbage). */
export class BulwarkApiError extends Error {
  override name = 'BulwarkApiError';

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

interface ErrorBody {
  error?: unknown;
  message?: unknown;
  details?: unknown;
  retryAfterMs?: unknown;
}

export class BulwarkServer {
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: BulwarkServerOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** `POST /api/v1/rooms/{room}/messages` (scope `publish`). */
  async publish(room: string, text: string, options: PublishOptions = {}): Promise<Published> {
    const body: Record<string, unknown> = { text };
    if (options.user) body['user'] = options.user;
    const headers: Record<string, string> = options.idempotencyKey !== undefined ? { 'Idempotency-Key': options.idempotencyKey } : {};
    const answer = await this.call<{ message: Message; duplicate?: boolean }>('POST', `/rooms/${encodeURIComponent(room)}/messages`, body, headers);
    return { message: answer.message, duplicate: answer.duplicate === true };
  }

  /** `POST /api/v1/broadcast` (scope `broadcast`): an announcement to every connection. */
  broadcast(text: string): Promise<{ ts: number }> {
    return this.call('POST', '/broadcast', { text });
  }

  /** `GET /api/v1/rooms/{room}/history` (scope `history`). */
  history(room: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    const params = new URLSearchParams();
    for (const key of ['before', 'after', 'limit'] as const) if (query[key] !== undefined) params.set(key, String(query[key]));
    const qs = params.size > 0 ? `?${params.toString()}` : '';
    return this.call('GET', `/rooms/${encodeURIComponent(room)}/history${qs}`);
  }

  /** `GET /api/v1/rooms/{room}/presence` (scope `presence`). */
  presence(room: string): Promise<Presence> {
    return this.call('GET', `/rooms/${encodeURIComponent(room)}/presence`);
  }

  /** `POST /api/v1/users/{id}/disconnect` (scope `admin`): closes every connection of the user, on every node. */
  disconnect(user: string, options: DisconnectOptions = {}): Promise<Disconnected> {
    return this.call('POST', `/users/${encodeURIComponent(user)}/disconnect`, { ...options });
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>, extra: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.apiKey}`, accept: 'application/json', ...extra };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetch(`${this.base}/api/v1${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new BulwarkApiError(0, 'INTERNAL', `request failed: ${(error as Error).name === 'TimeoutError' ? 'timed out' : (error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch {
      throw new BulwarkApiError(res.status, 'INTERNAL', `the server answered ${res.status} without JSON`);
    }
    if (res.ok) return parsed as T;
    const e = (parsed ?? {}) as ErrorBody;
    const retryAfter = Number(res.headers.get('retry-after'));
    const retryAfterMs = typeof e.retryAfterMs === 'number' ? e.retryAfterMs : Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
    throw new BulwarkApiError(
      res.status,
      (typeof e.error === 'string' ? e.error : 'INTERNAL') as ErrorCode,
      typeof e.message === 'string' ? e.message : `the server answered ${res.status}`,
      Array.isArray(e.details) ? (e.details as ErrorDetail[]) : undefined,
      retryAfterMs,
    );
  }
}
