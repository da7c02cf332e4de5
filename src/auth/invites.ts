/**
 * Invitation codes for `accounts.registration: invite`. A code is 144 random bits shown once to
 * the admin who created it; the store keeps only its SHA-256 (like refresh tokens), so a copy of
 * the database does not let anyone register. Codes are single-use (claimed atomically by the
 * registration that uses them) and expire.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { InviteRecord, Store } from '../store/store.js';

export const INVITE_PREFIX = 'bwi_';
/** `bwi_` and 24 base64url characters. */
const INVITE_SHAPE = /^bwi_[A-Za-z0-9_-]{24}$/;

export function inviteHash(code: string): string {
  return createHash('sha256').update(code).digest('hex');
}

/** Whether a string has the shape of a code (a cheap filter before hashing and a store read). */
export function looksLikeInvite(code: unknown): code is string {
  return typeof code === 'string' && INVITE_SHAPE.test(code);
}

export interface CreatedInvite {
  id: string;
  /** The code to hand to the invitee: shown once, never stored. */
  code: string;
  expiresAt: number;
}

export async function createInvite(store: Store, createdBy: string, ttlMs: number, now = Date.now()): Promise<CreatedInvite> {
  const code = `${INVITE_PREFIX}${randomBytes(18).toString('base64url')}`;
  const id = randomBytes(6).toString('hex');
  const expiresAt = now + ttlMs;
  await store.createInvite({ id, hash: inviteHash(code), createdBy, createdAt: now, expiresAt });
  return { id, code, expiresAt };
}

export type InviteState = 'open' | 'used' | 'expired' | 'revoked';

export function inviteState(invite: InviteRecord, now = Date.now()): InviteState {
  if (invite.usedAt !== null) return 'used';
  if (invite.expiresAt === 0) return 'revoked';
  return invite.expiresAt <= now ? 'expired' : 'open';
}
