/**
 * One clear line for each way start-up fails, so a process manager's log says what to fix: a
 * port in use, a port that needs privileges, an address not on this machine, a data directory or
 * a certificate that cannot be read, a database that cannot be opened.
 */
import type { Config } from '../config/schema.js';
import { StartupError } from '../lifecycle/startup.js';

const FS_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
};

export function describeStartupError(error: unknown, config: Pick<Config, 'host' | 'port' | 'dataDir'>): string {
  // The node names the failing part (listen, database, redis, keys); the cause says what to fix.
  const known = error instanceof StartupError && error.cause !== undefined ? describeKnown(error.cause, config) : describeKnown(error, config);
  if (known) return known;
  const message = error instanceof Error ? error.message : String(error);
  return `start-up failed: ${message.split('\n')[0]}`;
}

function describeKnown(error: unknown, config: Pick<Config, 'host' | 'port' | 'dataDir'>): string | undefined {
  const err = error as NodeJS.ErrnoException & { code?: string };
  const where = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  switch (err?.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where}: the port is already in use (another process holds it; pick another with --port or BULWARK_PORT)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: ${config.host} is not an address of this machine`;
    case 'EACCES':
    case 'EPERM':
      if (err.syscall === 'listen' || err.syscall === 'bind')
        return `cannot listen on ${where}: permission denied (ports below 1024 need privileges; use a higher port behind a proxy)`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      if (err.syscall === 'getaddrinfo') return `cannot listen on ${where}: the host name ${config.host} does not resolve`;
      break;
  }
  if (typeof err?.code === 'string' && err.code.startsWith('SQLITE_')) return `cannot open the SQLite database in ${config.dataDir}: ${err.message} (${err.code})`;
  if (typeof err?.code === 'string' && FS_REASONS[err.code] && err.path) return `cannot use ${err.path}: ${FS_REASONS[err.code]} (${err.code})`;
  return undefined;
}
