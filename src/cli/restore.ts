/** `bulwark restore <dir>`: restores a `bulwark backup` into a new data directory (docs/deploy.md, "Backups"). */
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { CliError, resolveContext } from './context.js';

export const restore: Command = {
  summary: 'restore a backup into a new data directory',
  usage: 'bulwark restore <backup directory> [configuration flags]',
  description:
    'Verifies the checksums, then copies the database, the key file and the secret into the data directory (resolved as for serve; created 0700, files 0600). The data directory must not hold a database, key file or secret already: restore into a new directory, or move those away with the server stopped. Then start the server on it.',
  options: {},
  config: true,
  async run(args) {
    const [dir, ...extra] = args.positionals;
    if (!dir || extra.length > 0) throw new UsageError('usage: bulwark restore <backup directory> [--data-dir DIR]');
    const { config } = resolveContext(args);
    if (config.databaseUrl)
      throw new CliError('storage is PostgreSQL: restore the database with pg_restore/psql (docs/deploy.md) and copy keys.json and jwt-secret into the data directory');
    const { restoreSqlite, BackupError } = await import('../store/backup.js');
    try {
      const manifest = restoreSqlite(dir, config.dataDir);
      console.log(`restored ${manifest.messages} message(s) from ${manifest.createdAt} (${Object.keys(manifest.files).join(', ')}) into ${config.dataDir}`);
      return 0;
    } catch (err) {
      if (err instanceof BackupError) throw new CliError(err.message);
      throw err;
    }
  },
};
