/** TLS and HSTS: tokens and messages must not cross a network in clear text (docs/deploy.md, "TLS"). */
import { connect, type PeerCertificate } from 'node:tls';
import type { Probe } from './probe.js';
import type { CheckResult } from './types.js';

const HSTS_MIN_SECONDS = 180 * 24 * 3600;
const EXPIRY_WARN_DAYS = 14;

interface TlsInfo {
  protocol: string | null;
  authorized: boolean;
  error?: string;
  cert: PeerCertificate;
}

function tlsInfo(probe: Probe, ca: Buffer | undefined): Promise<TlsInfo> {
  const { base } = probe.target;
  const host = base.hostname.replace(/^\[|\]$/g, '');
  probe.sent++;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(base.port || 443), servername: host, rejectUnauthorized: false, timeout: 5000, ...(ca ? { ca } : {}) }, () => {
      const info: TlsInfo = { protocol: socket.getProtocol(), authorized: socket.authorized, cert: socket.getPeerCertificate() };
      if (socket.authorizationError) info.error = String(socket.authorizationError);
      socket.destroy();
      resolve(info);
    });
    socket.on('timeout', () => socket.destroy(new Error('no TLS handshake within 5000 ms')));
    socket.on('error', reject);
  });
}

export async function checkTls(probe: Probe, ca: Buffer | undefined): Promise<CheckResult> {
  const id = 'tls';
  const title = 'TLS and HSTS';
  const { target } = probe;
  if (target.base.protocol !== 'https:') {
    const evidence = `${target.base.origin} serves plain HTTP/WS`;
    if (!target.public) {
      return {
        id,
        title,
        status: 'warn',
        evidence: `${evidence} on a loopback address (development only)`,
        fix: 'Before exposing it, serve https/wss: set tls.cert and tls.key, or terminate TLS in a reverse proxy listed in trustProxy (docs/deploy.md).',
      };
    }
    return {
      id,
      title,
      status: 'fail',
      evidence: `${evidence} to the network: tokens, passwords and messages travel in clear text`,
      fix: 'Set tls.cert and tls.key, or terminate TLS in a reverse proxy (docs/deploy.md) and let only the proxy reach the node.',
    };
  }
  const info = await tlsInfo(probe, ca);
  if (!info.authorized) {
    return {
      id,
      title,
      status: 'fail',
      evidence: `certificate not trusted: ${info.error ?? 'unknown reason'}`,
      fix: 'Serve a certificate from a trusted CA for this host name (e.g. Let’s Encrypt), with its full chain.',
    };
  }
  if (info.protocol === 'TLSv1' || info.protocol === 'TLSv1.1') {
    return { id, title, status: 'fail', evidence: `negotiated ${info.protocol}`, fix: 'Allow TLS 1.2 and 1.3 only (nginx: ssl_protocols TLSv1.2 TLSv1.3).' };
  }
  const daysLeft = Math.floor((Date.parse(info.cert.valid_to) - Date.now()) / 86_400_000);
  const hsts = (await probe.http('GET', '/healthz')).headers['strict-transport-security'];
  const maxAge = Number(/max-age=(\d+)/i.exec(String(hsts ?? ''))?.[1] ?? 0);
  const evidence = `${info.protocol}, certificate valid for ${daysLeft} more day(s), Strict-Transport-Security: ${hsts ?? '(absent)'}`;
  if (!hsts)
    return {
      id,
      title,
      status: 'fail',
      evidence,
      fix: 'Send Strict-Transport-Security (Bulwark does when tls.cert is set; a proxy must add it: add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always).',
    };
  if (daysLeft < EXPIRY_WARN_DAYS) return { id, title, status: 'warn', evidence, fix: 'Renew the certificate (automate it: certbot renew, or your ACME client).' };
  if (maxAge < HSTS_MIN_SECONDS) return { id, title, status: 'warn', evidence, fix: 'Use an HSTS max-age of at least 180 days (31536000 is usual).' };
  return { id, title, status: 'pass', evidence, fix: '' };
}
