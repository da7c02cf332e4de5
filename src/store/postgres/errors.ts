/**
 * PostgreSQL errors as they leave the store: a message that holds at most an SQLSTATE or a
 * network error code, never SQL text, parameters or the connection string.
 */
import pg from 'pg';
import { RoomGoneError } from '../errors.js';

/** A database failure, stripped of anything that could leak SQL, data or credentials. */
export class PostgresStoreError extends Error {
  override name = 'PostgresStoreError';
  /** SQLSTATE (e.g. 23505) or network error code (e.g. ECONNREFUSED), when known. */
  readonly code: string | undefined;
  constructor(message: string, code?: string, cause?: unknown) {
    super(code ? `${message} (${code})` : message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

const SAFE_CODE = /^[A-Z0-9_]{2,32}$/;

export function isDatabaseError(error: unknown): boolean {
  return error instanceof pg.DatabaseError;
}

export function sanitize(error: unknown, what = 'database operation failed'): Error {
  if (error instanceof PostgresStoreError || error instanceof RoomGoneError) return error;
  const raw = (error as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' && SAFE_CODE.test(raw) ? raw : undefined;
  return new PostgresStoreError(isDatabaseError(error) ? what : 'database unavailable', code, error);
}

/** Deadlock or serialization failure: worth one more try. */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}
