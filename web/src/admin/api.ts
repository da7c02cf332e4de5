/**
 * The console's client of `/api/admin/*`: the access token (memory only, from the session) goes
 * as a bearer token; a `401` gets one refreshed token and one retry, then ends the session.
 */
import { ApiError, type Session } from '../session.js';

export class SessionEnded extends Error {}

export class AdminApi {
  constructor(
    private readonly session: Session,
    private readonly onEnded: () => void,
  ) {}

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
    const qs = params.toString();
    return this.request<T>('GET', qs ? `${path}?${qs}` : path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
    let token: string;
    try {
      token = await this.session.token({ reason: retried ? 'rejected' : 'connect' });
    } catch {
      this.onEnded();
      throw new SessionEnded('Your session ended. Sign in again.');
    }
    const res = await fetch(`/api/admin/${path}`, {
      method,
      credentials: 'same-origin',
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (res.status === 401 && !retried) return this.request<T>(method, path, body, true);
    const data = (await res.json().catch(() => ({}))) as { error?: string; message?: string } & T;
    if (res.status === 401) {
      this.onEnded();
      throw new SessionEnded(data.message ?? 'Your session ended. Sign in again.');
    }
    if (!res.ok) throw new ApiError(res.status, data.error ?? 'ERROR', data.message ?? `The server answered ${res.status}.`);
    return data;
  }
}
