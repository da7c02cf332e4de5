/**
 * A private `redis-server` for tests that stop and restart Redis: on a spare loopback port, no
 * persistence, killed when the test is done. `REDIS_SERVER` names the binary (default
 * /usr/bin/redis-server, then `redis-server` on the PATH). Missing: `redisServerMissing()` says
 * why, and the suite skips (or fails with CI=true), like every service-backed test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { redisUnreachable } from './redis.js';

const BINARY = process.env.REDIS_SERVER ?? (existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server');

/** Why no private Redis can run here, or undefined when it can. */
export function redisServerMissing(): string | undefined {
  const probe = spawnSync(BINARY, ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (probe.error || probe.status !== 0) return `${BINARY} cannot run (${probe.error?.message ?? `exit ${probe.status}`}); set REDIS_SERVER`;
  return undefined;
}

/** A free loopback TCP port (free when asked; the caller binds it right away). */
export function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  return (await redisUnreachable(url, 500)) === undefined;
}

export class RedisServer {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await sparePort());
    await server.resume();
    return server;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts (again) on the same port, empty; resolves once it answers PING. */
  async resume(): Promise<void> {
    if (this.child) return;
    const child = spawn(BINARY, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
      stdio: 'ignore',
    });
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + 10_000;
    while (!(await answers(this.url))) {
      if (Date.now() > deadline || !this.child) throw new Error(`redis-server on port ${this.port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills the server at once (an outage, not a shutdown); resolves when the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
