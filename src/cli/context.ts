/**
 * The one way every command finds its configuration and data directory — exactly as `serve`
 * does: `--data-dir`, else `BULWARK_DATA_DIR`, else the config file's `dataDir`, else `./data`,
 * made absolute against the working directory. The directory used, and where it came from, is
 * printed on stderr so an operator in the wrong folder sees it at once.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfigWithSources, type ValueSource } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Parsed } from './args.js';

/** An expected failure of a command: printed as one line, exit 1. */
export class CliError extends Error {
  override name = 'CliError';
}

export interface CliContext {
  config: Config;
  /** Absolute. */
  dataDir: string;
  /** `--data-dir`, `BULWARK_DATA_DIR`, `config file /etc/bulwark.json` or `default ./data`. */
  dataDirSource: string;
}

function describe(source: ValueSource): string {
  switch (source.kind) {
    case 'flag':
      return source.name;
    case 'env':
      return source.name;
    case 'file':
      return `config file ${source.path}`;
    case 'override':
      return 'the embedding program';
    case 'default':
      return 'default ./data';
  }
}

export function resolveContext(args: Parsed, env: NodeJS.ProcessEnv = process.env): CliContext {
  const loaded = loadConfigWithSources({ args: args.config, env });
  const config = loaded.config;
  config.dataDir = resolve(config.dataDir);
  const dataDirSource = describe(loaded.sourceOf('dataDir'));
  console.error(`bulwark: data directory ${config.dataDir} (from ${dataDirSource})`);
  return { config, dataDir: config.dataDir, dataDirSource };
}

/**
 * For every command but `serve`: the data directory must already hold a Bulwark node's data.
 * Creating a database, a secret or a key here would give the operator an answer from an empty
 * node — a token no server accepts, "0 bans" — instead of an error.
 */
export function requireExistingData(context: CliContext): void {
  const { config, dataDir, dataDirSource } = context;
  const hint = `run "bulwark serve" once with this data directory, or point --data-dir, BULWARK_DATA_DIR or --config at the server's (used: ${dataDirSource})`;
  if (!existsSync(dataDir)) throw new CliError(`no data directory at ${dataDir}: ${hint}`);
  if (!config.databaseUrl && !existsSync(join(dataDir, 'bulwark.db'))) throw new CliError(`no Bulwark database in ${dataDir}: ${hint}`);
}
