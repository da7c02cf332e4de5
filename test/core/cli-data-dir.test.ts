/**
 * Every command finds the data directory exactly as `serve` does (flag, environment, config file,
 * default), says which one it used, and never creates a secret or a database (contract section 5).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initialised, login, run, serve, tempDir, terminate, useCli } from './cli-support.js';

useCli();

describe('every command resolves the data directory as serve does', () => {
  it('says which directory it used and where that came from: flag, environment, config file, default', async () => {
    const dataDir = await initialised();
    const config = join(tempDir(), 'bulwark.json');
    writeFileSync(config, JSON.stringify({ dataDir }));
    const fromFlag = await run(['bans', '--data-dir', dataDir]);
    assert.equal(fromFlag.code, 0, fromFlag.stderr);
    assert.match(fromFlag.stderr, new RegExp(`data directory ${dataDir} \\(from --data-dir\\)`));
    const fromEnv = await run(['bans'], { BULWARK_DATA_DIR: dataDir });
    assert.match(fromEnv.stderr, new RegExp(`data directory ${dataDir} \\(from BULWARK_DATA_DIR\\)`));
    const fromFile = await run(['bans', '--config', config]);
    assert.match(fromFile.stderr, new RegExp(`data directory ${dataDir} \\(from config file ${config}\\)`));
    // A token minted through the config file is one the server (same file) accepts.
    const token = await run(['token', '--sub', 'olga', '--config', config]);
    assert.equal(token.code, 0, token.stderr);
    const served = await serve(['--config', config]);
    const client = await login(served, token.stdout.trim());
    assert.equal((client.welcome!.user as { id: string }).id, 'olga');
    client.close();
    await terminate(served);
  });

  it('refuses, from another folder, instead of creating a data directory or a secret', async () => {
    const elsewhere = tempDir();
    for (const args of [['token', '--sub', 'x'], ['bans'], ['events'], ['ban', '--user', 'x'], ['revoke', '--jti', 'j'], ['keys', 'rotate']]) {
      const r = await run(args, {}, elsewhere);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`data directory ${join(elsewhere, 'data')} \\(from default \\./data\\)`), args.join(' '));
      assert.match(r.stderr, /bulwark serve/, `${args.join(' ')} says how to fix it`);
      assert.deepEqual(readdirSync(elsewhere), [], `${args.join(' ')} created nothing`);
    }
  });

  it('refuses to mint a token from a data directory without a secret, even if it exists', async () => {
    const empty = tempDir();
    const r = await run(['token', '--sub', 'x', '--data-dir', empty]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no signing secret/);
    assert.equal(existsSync(join(empty, 'jwt-secret')), false);
  });
});
