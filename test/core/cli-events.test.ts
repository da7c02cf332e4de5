/**
 * `bulwark events`: newest first, filters, `--follow`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialised, run, start, useCli } from './cli-support.js';

useCli();

describe('bulwark events', () => {
  interface Row {
    id: number;
    type: string;
    severity: string;
    user?: string;
    ip?: string;
    detail?: { jti?: string };
  }
  const rows = (stdout: string): Row[] =>
    stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Row);

  it('lists newest first, filters by severity, type, user, IP and age, and follows new events', async () => {
    const dataDir = await initialised();
    const d = ['--data-dir', dataDir];
    for (const args of [
      ['ban', '--user', 'alice'],
      ['unban', '--user', 'alice'],
      ['ban', '--ip', '10.0.0.1'],
      ['revoke', '--jti', 'j1'],
    ]) {
      const r = await run([...args, ...d]);
      assert.equal(r.code, 0, r.stderr);
    }
    const all = rows((await run(['events', '--json', ...d])).stdout);
    assert.deepEqual(
      all.map((r) => r.type),
      ['token_revoked', 'ban_added', 'ban_removed', 'ban_added'],
      'newest first',
    );
    assert.deepEqual(
      rows((await run(['events', '--json', '--limit', '1', ...d])).stdout).map((r) => r.type),
      ['token_revoked'],
      'the newest N',
    );
    assert.equal(rows((await run(['events', '--json', '--type', 'ban_added', ...d])).stdout).length, 2);
    assert.deepEqual(
      rows((await run(['events', '--json', '--user', 'alice', ...d])).stdout).map((r) => r.type),
      ['ban_removed', 'ban_added'],
    );
    assert.deepEqual(
      rows((await run(['events', '--json', '--ip', '10.0.0.1', ...d])).stdout).map((r) => r.ip),
      ['10.0.0.1'],
    );
    assert.ok(rows((await run(['events', '--json', '--severity', 'warning', ...d])).stdout).every((r) => r.severity === 'warning'));
    assert.equal(rows((await run(['events', '--json', '--severity', 'warning', ...d])).stdout).length, 3);
    assert.equal(rows((await run(['events', '--json', '--since', '2999-01-01', ...d])).stdout).length, 0);
    const badType = await run(['events', '--type', 'ban_add', ...d]);
    assert.equal(badType.code, 1);
    assert.match(badType.stderr, /did you mean "ban_added"/);

    const follow = start(['events', '--follow', '--json', '--type', 'token_revoked', ...d]);
    await follow.waitFor(/"j1"/);
    const r = await run(['revoke', '--jti', 'j2', ...d]);
    assert.equal(r.code, 0, r.stderr);
    await run(['ban', '--user', 'bob', ...d]);
    await follow.waitFor(/"j2"/);
    follow.child.kill('SIGTERM');
    const exit = await follow.exit;
    assert.equal(exit.code, 0, exit.stderr);
    assert.deepEqual(
      rows(follow.stdout()).map((r) => r.detail?.jti),
      ['j1', 'j2'],
      'oldest first while following, filtered',
    );
  });
});
