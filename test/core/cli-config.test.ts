/**
 * `bulwark serve` configuration (contract section 5), in real child processes: a JSON file <
 * environment < flags, and start-up refused with the offending key's name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { login, run, serve, signed, tempDir, terminate, useCli } from './cli-support.js';

useCli();

describe('bulwark serve configuration', () => {
  it('stops start-up on an unknown key in the JSON file, naming the key', async () => {
    const dataDir = tempDir();
    const file = join(dataDir, 'config.json');
    writeFileSync(file, JSON.stringify({ limits: { maxPayloadByts: 1024 } }));
    const r = await run(['serve', '--config', file, '--data-dir', dataDir, '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /limits\.maxPayloadByts/);
    assert.doesNotMatch(r.stdout, /listening/);
  });

  it('stops start-up on a bad value, naming the key, from the file, the environment or a flag', async () => {
    const dataDir = tempDir();
    const file = join(dataDir, 'config.json');
    writeFileSync(file, JSON.stringify({ auth: { timeoutMs: -5 } }));
    const fromFile = await run(['serve', '--data-dir', dataDir, '--port', '0'], { BULWARK_CONFIG: file });
    assert.equal(fromFile.code, 1);
    assert.match(fromFile.stderr, /auth\.timeoutMs/);
    const fromEnv = await run(['serve', '--data-dir', dataDir], { BULWARK_PORT: 'eighty' });
    assert.equal(fromEnv.code, 1);
    assert.match(fromEnv.stderr, /\bport\b/);
    const fromFlag = await run(['serve', '--data-dir', dataDir, '--port', '0', '--heartbeatMs', '10']);
    assert.equal(fromFlag.code, 1);
    assert.match(fromFlag.stderr, /heartbeatMs/);
  });

  it('layers the sources: the environment overrides the file and a flag overrides the environment', async () => {
    const dataDir = tempDir();
    const file = join(dataDir, 'config.json');
    // Each bad value is hidden by a higher source; start-up only succeeds if the layering is right.
    writeFileSync(file, JSON.stringify({ logLevel: 'chatty', limits: { maxMessageChars: 10 } }));
    const served = await serve(['--config', file, '--data-dir', dataDir, '--limits.maxMessageChars', '25'], { BULWARK_LOG_LEVEL: 'silent', BULWARK_PORT: '1' }, false);
    // BULWARK_LOG_LEVEL (the environment) beat "chatty" (the file), or start-up would have failed.
    // --port 0 (a flag) beat BULWARK_PORT=1 (the environment): the node is on an ephemeral port.
    assert.notEqual(new URL(served.url).port, '1');
    const client = await login(served, await signed(dataDir, 'olga'));
    assert.equal((client.welcome!.limits as { maxMessageChars: number }).maxMessageChars, 25, 'the flag beat the file');
    client.close();
    await terminate(served);
  });
});
