/**
 * The SDK and bans or mutes (docs/protocol.md "Abuse scoring and bans"): a live connection
 * closed `banned until …`, a handshake refused 403 with `Retry-After`, and — as a browser sees it,
 * a refused handshake with no status at all — a probe of `GET /ws`, each become a typed `banned
 * {until}` event, and the client does not dial again before `until`; then it comes back by
 * itself. A mute becomes `muted {until}`.
 *
 * 127.0.0.1 is a trusted proxy here, so `X-Forwarded-For` picks the client IP.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { ClientEvents, WebSocketLike } from '../../client/index.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { EventRecorder, ROOMY } from '../handshake/support.js';
import { nextEvent, sdk } from './sdk.js';

const BAN_MS = 2500;

/** What a browser's WebSocket shows: no `on`, no HTTP status of a refused handshake, close 1006. */
class BrowserLikeWebSocket implements WebSocketLike {
  private readonly ws: WebSocket;
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;

  constructor(url: string, protocols: string[], options?: { headers?: Record<string, string> }) {
    this.ws = new WebSocket(url, protocols, options);
    this.ws.on('open', () => this.onopen?.({}));
    this.ws.on('message', (data) => this.onmessage?.({ data: String(data) }));
    this.ws.on('error', () => this.onerror?.({}));
    this.ws.on('close', (code, reason) => this.onclose?.({ code, reason: String(reason) }));
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: string): void {
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}

describe('client SDK: bans and mutes', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, trustProxy: ['127.0.0.1'] } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  /** Handshakes refused for a ban from `ip` since `mark`: the client's attempts while banned. */
  const bannedAttempts = (mark: number, ip: string): number => recorder.since(mark, 'banned_refused').filter((e) => e.ip === ip).length;

  it('emits banned {until} when its live connection is closed for an IP ban, does not dial before until, then reconnects', async () => {
    const ip = '203.0.113.70';
    const client = sdk(server, { token: () => server.token('sdk-ip-ban'), headers: { 'X-Forwarded-For': ip } });
    await client.ready();
    const banned = nextEvent(client, 'banned');
    const waiting = nextEvent(client, 'reconnecting');
    const mark = recorder.mark();
    const ban = await server.bulwark.bans.ban('ip', ip, 'test', { durationMs: BAN_MS });
    const event = await banned;
    assert.equal(event.until, ban.until);
    assert.equal(event.code, 4403);
    assert.equal(client.bannedUntil, ban.until);
    const next: ClientEvents['reconnecting'] = await waiting;
    assert.ok(next.inMs >= ban.until - Date.now() - 50, `waits for the ban: ${next.inMs} ms`);
    await nextEvent(client, 'open', () => true, BAN_MS + 40_000);
    assert.ok(Date.now() >= ban.until, 'not before the ban ended');
    assert.equal(bannedAttempts(mark, ip), 0, 'no handshake was tried while banned');
    assert.equal(client.bannedUntil, undefined);
    client.close();
  });

  it('treats a handshake refused 403 with Retry-After (a banned user with an early token) the same way', async () => {
    const ip = '203.0.113.71';
    const ban = await server.bulwark.bans.ban('user', 'sdk-user-ban', 'test', { durationMs: BAN_MS });
    const mark = recorder.mark();
    const client = sdk(server, { token: () => server.token('sdk-user-ban'), headers: { 'X-Forwarded-For': ip } });
    const event = await nextEvent(client, 'banned');
    // Retry-After is whole seconds: the client's idea of until is the ban's end rounded up.
    assert.ok(event.until >= ban.until && event.until <= ban.until + 1000, `${event.until} vs ${ban.until}`);
    assert.match(event.reason, /^banned until /);
    await nextEvent(client, 'open', () => true, BAN_MS + 40_000);
    assert.ok(Date.now() >= ban.until);
    assert.equal(bannedAttempts(mark, ip), 1, 'one refused attempt, then it waited');
    client.close();
  });

  it('in a browser, where a refused handshake has no visible status, asks GET /ws and learns until when', async () => {
    const ip = '203.0.113.72';
    const ban = await server.bulwark.bans.ban('user', 'sdk-browser-ban', 'test', { durationMs: BAN_MS });
    const mark = recorder.mark();
    const client = sdk(server, {
      token: () => server.token('sdk-browser-ban'),
      headers: { 'X-Forwarded-For': ip },
      WebSocket: BrowserLikeWebSocket as never,
    });
    const event = await nextEvent(client, 'banned');
    assert.equal(event.until, ban.until);
    await nextEvent(client, 'open', () => true, BAN_MS + 40_000);
    assert.ok(Date.now() >= ban.until);
    assert.equal(bannedAttempts(mark, ip), 1);
    client.close();
  });

  it('emits muted {until} when a send is refused SPAM with retryAfterMs', async () => {
    const client = sdk(server, { token: () => server.token('sdk-muted') });
    await client.ready();
    await client.request('room.create', { room: 'sdk-mute', visibility: 'public' });
    await client.join('sdk-mute');
    const muted = nextEvent(client, 'muted');
    const failures: string[] = [];
    for (let i = 0; i < 3; i++) await client.send('sdk-mute', `buy now ${i}`).catch((e: { code: string }) => failures.push(e.code));
    assert.deepEqual(failures, ['SPAM', 'SPAM', 'SPAM']);
    const { until } = await muted;
    assert.ok(until > Date.now() + 50_000 && until <= Date.now() + 60_000, `muted for about spam.muteMs: ${until - Date.now()} ms`);
    client.close();
  });
});
