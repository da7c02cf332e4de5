/**
 * Handshake defences (docs/protocol.md, "Handshake"): a foreign or missing Origin, the
 * subprotocol, and a token in the query string, each probed with one upgrade request that the
 * server should refuse before it opens a socket.
 */
import { SUBPROTOCOL } from '../protocol/constants.js';
import type { Probe } from './probe.js';
import type { CheckResult } from './types.js';

/** A foreign origin that can never be the deployment's own (RFC 2606 reserves `.invalid`). */
const FOREIGN_ORIGIN = 'https://bulwark-audit.invalid';

function reached(status: number, error: string | undefined): string {
  return status === 0 ? `no answer (${error ?? 'connection failed'})` : String(status);
}

export async function checkForeignOrigin(probe: Probe): Promise<CheckResult> {
  const id = 'origin-foreign';
  const title = 'Foreign Origin refused (cross-site WebSocket hijacking)';
  const r = await probe.handshake({ origin: FOREIGN_ORIGIN });
  const evidence = `upgrade with Origin: ${FOREIGN_ORIGIN} → ${reached(r.status, r.error)}`;
  if (r.status === 403) return { id, title, status: 'pass', evidence, fix: '' };
  if (r.status === 101) {
    return {
      id,
      title,
      status: 'fail',
      evidence,
      fix: 'List only your own sites in origins.allowed (no wildcard); any page on the web can otherwise open a socket with its visitors’ cookies and tokens.',
    };
  }
  return {
    id,
    title,
    status: 'warn',
    evidence: `${evidence} (expected 403)`,
    fix: 'Check that the upgrade reaches Bulwark and that a proxy forwards the Origin header unchanged.',
  };
}

export async function checkMissingOrigin(probe: Probe): Promise<CheckResult> {
  const id = 'origin-missing';
  const title = 'Upgrade without Origin refused';
  const r = await probe.handshake({ origin: null });
  const evidence = `upgrade without an Origin header → ${reached(r.status, r.error)}`;
  if (r.status === 403) return { id, title, status: 'pass', evidence, fix: '' };
  if (r.status === 101) {
    return {
      id,
      title,
      status: 'warn',
      evidence: `${evidence}: origins.allowMissing is on`,
      fix: 'Turn origins.allowMissing off unless non-browser clients need it; they can send your origin instead. (Browsers always send Origin, so this is not a hijacking hole by itself.)',
    };
  }
  return { id, title, status: 'warn', evidence: `${evidence} (expected 403)`, fix: 'Check that the upgrade reaches Bulwark.' };
}

export async function checkSubprotocol(probe: Probe): Promise<CheckResult> {
  const id = 'subprotocol';
  const title = `Subprotocol ${SUBPROTOCOL} required and selected`;
  const without = await probe.handshake({ protocols: [] });
  const withIt = await probe.handshake();
  const selected = String(withIt.headers['sec-websocket-protocol'] ?? '');
  const evidence = `without a subprotocol → ${reached(without.status, without.error)}; offering ${SUBPROTOCOL} → ${reached(withIt.status, withIt.error)}${withIt.status === 101 ? ` selecting "${selected}"` : ''}`;
  if (without.status === 400 && withIt.status === 101 && selected === SUBPROTOCOL) return { id, title, status: 'pass', evidence, fix: '' };
  if (withIt.status !== 101) {
    return {
      id,
      title,
      status: 'fail',
      evidence,
      fix: 'A legitimate upgrade (own Origin, bulwark.v1) must succeed: check the proxy forwards Upgrade, Connection and Sec-WebSocket-* headers (docs/deploy.md).',
    };
  }
  return { id, title, status: 'warn', evidence, fix: `Clients must offer ${SUBPROTOCOL}; an endpoint that ignores it cannot be told apart from another protocol's.` };
}

export async function checkQueryToken(probe: Probe): Promise<CheckResult> {
  const id = 'query-token';
  const title = 'Token in the query string refused';
  // Not a valid token: if the server reads it, it refuses it 401 — which proves it reads query tokens.
  const r = await probe.handshake({ query: '?token=bulwark-audit.not-a.token' });
  const evidence = `upgrade with ?token=… → ${reached(r.status, r.error)}`;
  if (r.status === 400) return { id, title, status: 'pass', evidence, fix: '' };
  if (r.status === 401 || r.status === 101) {
    return {
      id,
      title,
      status: 'fail',
      evidence: `${evidence}: the server reads tokens from URLs`,
      fix: 'Turn auth.allowQueryToken off: URLs end up in proxy logs, browser history and Referer headers. Send the token in the auth frame or as the bulwark.bearer.<jwt> subprotocol.',
    };
  }
  return { id, title, status: 'warn', evidence: `${evidence} (expected 400)`, fix: 'Check that the upgrade reaches Bulwark.' };
}
