/** Banned IPs, and banned users presenting an early token, are refused at the handshake (403). */
import type { Bans } from '../../security/bans.js';
import type { HandshakeGuard } from './types.js';

export function ipBanGuard(bans: Bans): HandshakeGuard {
  return {
    name: 'ip-ban',
    check: function ipBan(req) {
      const ban = bans.active('ip', req.ip);
      return ban ? { status: 403, event: 'banned_refused', reason: 'banned', retryAfterMs: ban.until - Date.now(), detail: { kind: 'ip' } } : undefined;
    },
  };
}

export function userBanGuard(bans: Bans): HandshakeGuard {
  return {
    name: 'user-ban',
    check: function userBan(req) {
      const ban = req.identity && bans.active('user', req.identity.id);
      return ban ? { status: 403, event: 'banned_refused', reason: 'banned', retryAfterMs: ban.until - Date.now(), detail: { kind: 'user' } } : undefined;
    },
  };
}
