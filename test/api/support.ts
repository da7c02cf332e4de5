/**
 * The server API suites' tools: keys minted straight into a node's store (as `bulwark apikeys
 * create` does), and plain `fetch` calls that return status, headers and the parsed body.
 */
import { createApiKey, type ApiScope } from '../../src/api/keys.js';
import { API_SCOPES } from '../../src/api/keys.js';
import type { ApiKeyRecord } from '../../src/store/store.js';
import type { TestServer } from '../helpers/server.js';

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export interface CallOptions {
  key?: string | undefined;
  /** Sent as JSON; a string is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export async function call(server: Pick<TestServer, 'url'>, method: 'GET' | 'POST', path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers['authorization'] = `Bearer ${options.key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${server.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export interface TestKey {
  key: string;
  record: ApiKeyRecord;
}

export function newKey(server: TestServer, scopes: readonly ApiScope[] = API_SCOPES, options: { ttlMs?: number; name?: string; now?: number } = {}): Promise<TestKey> {
  return createApiKey(server.bulwark.store, { name: options.name ?? 'test', scopes, ttlMs: options.ttlMs }, options.now);
}

/** A loose budget for suites that are not about rate limits. */
export const LOOSE = { points: 1_000_000, durationMs: 60_000 };
