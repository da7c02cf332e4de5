/**
 * `bulwark backup <dir>`: a consistent online copy of a SQLite node — database, key file and
 * signing secret, with checksums — while the server runs (docs/deploy.md, "Backups").
 */
import { join } from 'node:path';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { CliError, requireExistingData, resolveContext } from './context.js';
import { packageVersion } from './version.js';

export const backup: Command = {
  summary: 'copy the database, the key file and the secret into a new directory, online',
  usage: 'bulwark backup <directory> [--keys-only] [configuration flags]',
  description: [
    'Creates <directory> (mode 0700) holding bulwark.db (a consistent snapshot taken with SQLite’s online backup API while the server keeps writing), keys.json (without it the stored messages are unreadable), jwt-secret and manifest.json (checksums). Restore with "bulwark restore <directory>". Keep backups as private as the data directory.',
    'With PostgreSQL (databaseUrl) the database is backed up with pg_dump (docs/deploy.md); --keys-only then copies the key file and the secret, which pg_dump does not have.',
  ].join('\n\n'),
  options: { 'keys-only': { type: 'boolean', help: 'PostgreSQL: copy only keys.json and jwt-secret' } },
  config: true,
  async run(args) {
    const [dest, ...extra] = args.positionals;
    if (!dest || extra.length > 0) throw new UsageError('usage: bulwark backup <directory> [--keys-only]');
    const context = resolveContext(args);
    const { config } = context;
    const { backupKeys, backupSqlite, BackupError } = await import('../store/backup.js');
    try {
      if (config.databaseUrl) {
        if (args.options['keys-only'] !== 'true') {
          throw new CliError(
            'storage is PostgreSQL: back up the database with pg_dump (docs/deploy.md) and run "bulwark backup <directory> --keys-only" for the key file and the secret',
          );
        }
        const copied = backupKeys(config.dataDir, dest);
        console.log(`backed up ${copied.join(', ') || 'nothing (no key file or secret in the data directory)'} to ${dest}; the database itself: pg_dump`);
        return 0;
      }
      requireExistingData(context);
      const manifest = await backupSqlite({ dataDir: config.dataDir, dest, bulwarkVersion: packageVersion(), keysFromEnvironment: Boolean(process.env.BULWARK_ENCRYPTION_KEYS) });
      console.log(`backed up ${manifest.messages} message(s), schema ${manifest.schemaVersion}, ${Object.keys(manifest.files).join(', ')} to ${dest}`);
      if (manifest.encryptionKeys === 'environment')
        console.error('bulwark backup: the message keys come from BULWARK_ENCRYPTION_KEYS: keep a copy of that value with this backup');
      console.error(`bulwark backup: restore with: bulwark restore ${join(dest)} --data-dir <new directory>`);
      return 0;
    } catch (err) {
      if (err instanceof BackupError) throw new CliError(err.message);
      throw err;
    }
  },
};
