/**
 * The CLI an operator types at: `--help` everywhere, boolean flags, "did you mean", `check-config`
 * (every problem at once, secrets redacted) and `version`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../src/cli/commands.js';
import { LimitsSchema } from '../../src/config/schema.js';
import { run, tempDir, useCli } from './cli-support.js';

useCli();

describe('help, flags and suggestions', () => {
  it('answers --help for every command and sub-command, exit 0', async () => {
    const names = Object.entries(COMMANDS).flatMap(([name, c]) => [name, ...Object.keys(c.subcommands ?? {}).map((s) => `${name} ${s}`)]);
    assert.ok(names.includes('keys rotate'));
    const results = await Promise.all(names.map((name) => run([...name.split(' '), '--help'])));
    names.forEach((name, i) => {
      assert.equal(results[i]!.code, 0, `${name} --help: ${results[i]!.stderr}`);
      assert.match(results[i]!.stdout, new RegExp(`^usage: bulwark ${name}`), name);
    });
    const overview = await run(['help']);
    for (const name of Object.keys(COMMANDS)) assert.match(overview.stdout, new RegExp(`\\n  ${name} `));
  });

  it('takes boolean flags without a value', async () => {
    const v = await run(['version', '--json']);
    assert.equal(v.code, 0, v.stderr);
    const info = JSON.parse(v.stdout) as { bulwark: string; protocol: string; node: string };
    assert.equal(info.protocol, 'bulwark.v1');
    assert.match(info.bulwark, /^\d+\.\d+\.\d+/);
    const c = await run(['check-config', '--origins.allowMissing', '--data-dir', tempDir()]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((JSON.parse(c.stdout) as { origins: { allowMissing: boolean } }).origins.allowMissing, true);
  });

  it('suggests the nearest command, sub-command, option and configuration key', async () => {
    const cmd = await run(['serv']);
    assert.equal(cmd.code, 1);
    assert.match(cmd.stderr, /unknown command "serv" \(did you mean "serve"\?\)/);
    const sub = await run(['keys', 'rotat']);
    assert.match(sub.stderr, /did you mean "rotate"/);
    const opt = await run(['events', '--folow', '--data-dir', tempDir()]);
    assert.equal(opt.code, 1);
    assert.match(opt.stderr, /unknown option --folow \(did you mean --follow\?\)/);
    const key = await run(['serve', '--port', '0', '--data-dir', tempDir(), '--limits.maxPayloadByts', '10']);
    assert.equal(key.code, 1);
    assert.match(key.stderr, /unknown key "limits\.maxPayloadByts" \(did you mean "limits\.maxPayloadBytes"\?\)/);
    const leaf = await run(['check-config', '--maxConnections', '10']);
    assert.match(leaf.stderr, /did you mean "limits\.maxConnections"/);
  });
});

describe('bulwark check-config', () => {
  it('reports every problem at once and exits 1', async () => {
    const dir = tempDir();
    const file = join(dir, 'bulwark.json');
    writeFileSync(file, JSON.stringify({ limits: { maxPayloadByts: 1 }, auth: { timeoutMs: -1 }, rateLimits: { 'chat.sen': { points: 1, durationMs: 1 } } }));
    const r = await run(['check-config', '--config', file, '--port', 'eighty', '--tls.cert', join(dir, 'no.pem')]);
    assert.equal(r.code, 1);
    for (const key of ['limits.maxPayloadByts', 'auth.timeoutMs', 'rateLimits.chat.sen', 'port']) assert.match(r.stderr, new RegExp(key.replace(/\./g, '\\.')), key);
    assert.match(r.stderr, /4 configuration problem\(s\)/);
    assert.equal(r.stdout, '');
  });

  it('prints the effective configuration with defaults filled in and secrets redacted', async () => {
    const r = await run(['check-config', '--data-dir', tempDir(), '--limits.maxConnections', '500'], {
      BULWARK_JWT_SECRET: 'a-very-secret-value-of-at-least-32-chars',
      BULWARK_REDIS_URL: 'redis://:hunter2@127.0.0.1:6379/0',
    });
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(r.stdout) as { limits: { maxConnections: number; maxPayloadBytes: number }; auth: { secret: string }; redisUrl: string };
    assert.equal(config.limits.maxConnections, 500);
    assert.equal(config.limits.maxPayloadBytes, LimitsSchema.parse({}).maxPayloadBytes, 'a default filled in');
    assert.equal(config.auth.secret, '[redacted]');
    assert.equal(config.redisUrl, 'redis://:***@127.0.0.1:6379/0');
    assert.doesNotMatch(r.stdout + r.stderr, /a-very-secret-value|hunter2/);
  });

  it('redacts the secrets of other issuers and of alert webhooks, and webhook URLs (user information, path and query)', async () => {
    const dir = tempDir();
    const file = join(dir, 'bulwark.json');
    writeFileSync(
      file,
      JSON.stringify({
        databaseUrl: 'postgres://bulwark@db.internal:5432/bulwark?sslmode=require&password=pgsecret-in-query',
        auth: { issuers: [{ issuer: 'https://idp.example', secret: 'issuer-secret-of-at-least-32-characters', subjectPrefix: 'idp:' }] },
        alerts: {
          webhooks: [
            { url: 'https://ops:basicpass@alerts.example.com/services/T000/B000/slacktokenpart?token=querysecret', secret: 'webhook-signing-secret', format: 'slack' },
            { url: 'https://hooks.example.net', secret: 'another-signing-secret' },
          ],
        },
      }),
    );
    const r = await run(['check-config', '--config', file, '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(r.stdout) as {
      databaseUrl: string;
      auth: { issuers: Array<{ issuer: string; secret: string }> };
      alerts: { webhooks: Array<{ url: string; secret: string }> };
    };
    assert.deepEqual(config.auth.issuers[0], { issuer: 'https://idp.example', secret: '[redacted]', subjectPrefix: 'idp:' });
    assert.deepEqual(
      config.alerts.webhooks.map((w) => [w.url, w.secret]),
      [
        ['https://alerts.example.com/[redacted]', '[redacted]'],
        ['https://hooks.example.net', '[redacted]'],
      ],
    );
    assert.equal(config.databaseUrl, 'postgres://bulwark@db.internal:5432/bulwark?sslmode=require&password=***');
    assert.doesNotMatch(r.stdout + r.stderr, /issuer-secret|signing-secret|basicpass|slacktokenpart|querysecret|pgsecret/);
  });

  it('warns about a non-loopback bind without TLS or a trusted proxy', async () => {
    const exposed = await run(['check-config', '--data-dir', tempDir(), '--host', '0.0.0.0']);
    assert.equal(exposed.code, 0);
    assert.match(exposed.stderr, /warning: listening on 0\.0\.0\.0 without TLS and without a trusted proxy/);
    const proxied = await run(['check-config', '--data-dir', tempDir(), '--host', '0.0.0.0', '--trustProxy', '["10.0.0.2"]']);
    assert.doesNotMatch(proxied.stderr, /warning/);
    const local = await run(['check-config', '--data-dir', tempDir()]);
    assert.doesNotMatch(local.stderr, /warning/);
  });
});

describe('bulwark version', () => {
  it('prints the package version', async () => {
    const r = await run(['version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^bulwark \d+\.\d+\.\d+ \(protocol bulwark\.v1, node v\d+/);
  });
});
