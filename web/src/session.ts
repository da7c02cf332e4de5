/**
 * The built-in accounts API from the page's side. The access token lives in memory only; the
 * refresh token stays in its HttpOnly cookie, out of reach of page scripts. Refreshes are
 * serialised across tabs with the Web Locks API, because the server rotates refresh tokens and
 * treats a second use of an old one as theft (it revokes the whole family).
 */
import { connect, type BulwarkClient, type TokenProvider } from '../../client/index.js';

export interface SessionUser {
  id: string;
  name: string;
  roles: string[];
}

interface SessionBody {
  user: SessionUser;
  accessToken: string;
  expiresAt: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Refresh this long before the access token expires. */
const EARLY_MS = 30_000;

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (res.status === 204) return undefined;
  const data = (await res.json().catch(() => ({}))) as { error?: string; message?: string; retryAfterMs?: number; details?: Array<{ message: string }> };
  if (!res.ok) {
    const detail = data.details?.map((d) => d.message).join(' ');
    const message = [data.message, detail].filter(Boolean).join(' ') || `Request failed (${res.status}).`;
    const retryHeader = Number(res.headers.get('Retry-After'));
    const retryAfterMs = data.retryAfterMs ?? (retryHeader > 0 ? retryHeader * 1000 : undefined);
    throw new ApiError(res.status, data.error ?? 'ERROR', message, retryAfterMs);
  }
  return data;
}

export class Session {
  user: SessionUser | undefined;
  private accessToken: string | undefined;
  private expiresAt = 0;
  private refreshing: Promise<string> | undefined;

  private accept(body: unknown): SessionUser {
    const s = body as SessionBody;
    this.user = s.user;
    this.accessToken = s.accessToken;
    this.expiresAt = s.expiresAt;
    return s.user;
  }

  async register(username: string, password: string, invite?: string): Promise<SessionUser> {
    return this.accept(await post('/api/auth/register', invite ? { username, password, invite } : { username, password }));
  }

  /** Who may register here: `open`, `invite` (with a code) or `closed`; `undefined` when unknown. */
  async registration(): Promise<'open' | 'invite' | 'closed' | undefined> {
    try {
      const res = await fetch('/api/auth/options', { credentials: 'same-origin' });
      const body = (await res.json()) as { registration?: string };
      return body.registration === 'open' || body.registration === 'invite' || body.registration === 'closed' ? body.registration : undefined;
    } catch {
      return undefined;
    }
  }

  async login(username: string, password: string): Promise<SessionUser> {
    return this.accept(await post('/api/auth/login', { username, password }));
  }

  /** Uses the refresh cookie; resolves undefined when there is no valid session. */
  async resume(): Promise<SessionUser | undefined> {
    try {
      await this.refresh();
      return this.user;
    } catch {
      return undefined;
    }
  }

  private refresh(): Promise<string> {
    this.refreshing ??= (async () => {
      const run = async (): Promise<string> => {
        this.accept(await post('/api/auth/refresh', {}));
        return this.accessToken!;
      };
      try {
        const locks = (navigator as Navigator & { locks?: LockManager }).locks;
        return locks ? await locks.request('bulwark-refresh', run) : await run();
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** The SDK's token provider: the current token while fresh, else a refreshed one. */
  readonly token: TokenProvider = async ({ reason }) => {
    if (reason === 'connect' && this.accessToken && this.expiresAt - Date.now() > EARLY_MS) return this.accessToken;
    return this.refresh();
  };

  async logout(): Promise<void> {
    const headers: Record<string, string> = this.accessToken ? { Authorization: `Bearer ${this.accessToken}` } : {};
    this.user = undefined;
    this.accessToken = undefined;
    await post('/api/auth/logout', {}, headers).catch(() => undefined);
  }

  /** Opens the real-time connection to the server that served this page. */
  connect(): BulwarkClient {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return connect({
      url: `${scheme}://${location.host}/ws`,
      token: this.token,
      reconnect: { baseMs: 1000, maxMs: 15_000 },
      outboxLimit: 50,
    });
  }
}
