/**
 * Starts a real Bulwark node on an ephemeral loopback port with its own temporary data
 * directory, and mints tokens with that node's key. Every integration test goes through this.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { hmacSecret } from '../../src/auth/keys.js';
import { mintToken, type MintOptions } from '../../src/auth/jwt.js';
import { createBulwark, type Bulwark, type BulwarkOptions } from '../../src/server.js';

export interface TestServer {
  bulwark: Bulwark;
  config: Config;
  url: string;
  wsUrl: string;
  /** The origin a browser page served by this node would send. */
  origin: string;
  dataDir: string;
  token(sub: string, options?: Partial<MintOptions>): Promise<string>;
  stop(): Promise<void>;
  /** Stops this node and starts a new one on the same data directory (and port, when free). */
  restart(): Promise<TestServer>;
}

export interface StartOptions {
  /** Config values, highest precedence (same shape as the JSON config file). */
  config?: Record<string, unknown>;
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  keepData?: boolean;
  /** Assembly options beyond configuration (e.g. a Redis key prefix per test run). */
  bulwark?: Omit<BulwarkOptions, 'logger'>;
  /** The node's logger (default: silent). */
  logger?: BulwarkOptions['logger'];
}

export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'bulwark-test-'));
  const config = loadConfig({
    env: options.env ?? {},
    overrides: { host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', ...options.config },
  });
  const bulwark = await createBulwark(config, { ...options.bulwark, logger: options.logger ?? pino({ level: 'silent' }) });
  const url = await bulwark.start();
  const secret = config.auth.algorithms[0]!.startsWith('HS') ? hmacSecret(config) : undefined;
  let stopped = false;
  const server: TestServer = {
    bulwark,
    config,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/ws`,
    origin: url,
    dataDir,
    token: (sub, opts = {}) => {
      if (!secret) throw new Error('this test server verifies public-key tokens; sign them in the test');
      return mintToken(secret, config.auth, { sub, ttlMs: 15 * 60_000, ...opts });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await bulwark.stop();
      if (!options.keepData && !options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async restart() {
      if (!stopped) {
        stopped = true;
        await bulwark.stop();
      }
      const port = Number(new URL(url).port);
      return startServer({ ...options, dataDir, config: { ...options.config, port } });
    },
  };
  return server;
}
