/** Banned IPs, and banned users presenting an early token, are refused at the handshake (403). */
import type { Bans } from '../../security/bans.js';
import type { HandshakeGuard } from './types.js';

export function ipBanGuard(bans: Bans): HandshakeGuard {
  return {
    name: 'ip-ban',
    check: function ipBan(req) {
      const ban = bans.active('ip', req.ip);
      return ban ? { reason: 'banned', event: 'banned_refused', retryAfterMs: ban.until - Date.now(), detail: { kind: 'ip', until: ban.until } } : undefined;
    },
  };
}

export function userBanGuard(bans: Bans): HandshakeGuard {
  return {
    name: 'user-ban',
    check: function userBan(req) {
      const ban = req.identity && bans.active('user', req.identity.id);
      return ban
        ? { reason: 'banned', event: 'banned_refused', user: req.identity!.id, retryAfterMs: ban.until - Date.now(), detail: { kind: 'user', until: ban.until } }
        : undefined;
    },
  };
}
