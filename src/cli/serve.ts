/**
 * `bulwark serve`: runs a node until SIGTERM/SIGINT, then shuts down cleanly and exits 0
 * (contract section 5). Any start-up failure — a port in use, an unreadable data directory or
 * certificate, a database that will not open — exits 1 at once with one line saying what failed:
 * a process manager must see the failure, not a process that lingers without listening.
 */
import { accessSync, constants } from 'node:fs';
import { exposureWarning } from '../config/exposure.js';
import type { Bulwark } from '../server.js';
import { ensurePrivateDir } from '../store/private-files.js';
import type { Command } from './command.js';
import { resolveContext } from './context.js';
import { describeStartupError } from './startup-error.js';

/** Thrown after the failure was reported: main exits with `code` without printing again. */
export class StartupFailed extends Error {
  override name = 'StartupFailed';
}

export const serve: Command = {
  summary: 'run the server',
  usage: 'bulwark serve [configuration flags]',
  description:
    'Serves until SIGTERM or SIGINT, then stops accepting, closes sockets with 1001, flushes storage and exits 0 (1 if the flush failed). Any start-up failure exits 1 at once with one line on stderr. Warns when it binds a non-loopback address without TLS and without a trusted proxy.',
  options: {},
  config: true,
  async run(args) {
    // Listen for SIGTERM/SIGINT before anything else: a signal that arrives while the node starts
    // (or right after "listening" is printed) must stop it cleanly, not kill it with the default action.
    let requestStop!: () => void;
    const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
    const onSignal = (): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      requestStop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    const { config } = resolveContext(args);
    let bulwark: Bulwark;
    try {
      // The data directory holds the secret and keys: it is private (0700), and must be usable now, not at the first write.
      ensurePrivateDir(config.dataDir);
      accessSync(config.dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
      const { createBulwark } = await import('../server.js');
      bulwark = await createBulwark(config);
      const url = await bulwark.start();
      console.log(`bulwark listening on ${url} (ws: ${url.replace(/^http/, 'ws')}/ws)`);
    } catch (error) {
      // Nothing was accepted and nothing acknowledged yet: main exits at once, and the process's
      // exit releases what the half-started node opened (SQLite needs no clean close to stay consistent).
      console.error(`bulwark: ${describeStartupError(error, config)}`);
      throw new StartupFailed('start-up failed');
    }
    const warning = exposureWarning(config);
    if (warning) console.error(`bulwark: warning: ${warning}`);
    await stopRequested;
    try {
      await bulwark.stop();
      return 0;
    } catch (error) {
      console.error(`bulwark: shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
  },
};
