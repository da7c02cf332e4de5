/**
 * A throw-away certificate authority and a server certificate for `localhost`/`127.0.0.1`, made
 * with the openssl CLI for each run (the same steps docs/deploy.md gives for local `wss://`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pki {
  dir: string;
  /** The CA certificate (PEM) a client must trust. */
  ca: Buffer;
  caPath: string;
  /** Paths of the server certificate and key. */
  cert: string;
  key: string;
  remove(): void;
}

export function makePki(days = 30): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-pki-'));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const d = String(days);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', d, '-subj', '/CN=Bulwark Test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', d, '-extfile', 'ext.cnf');
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt')),
    caPath: join(dir, 'ca.crt'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
