/**
 * The active-content detector behind `xss_attempt` (contract section 4, "Message text"). It is
 * separate from the sanitizer on purpose: the sanitizer changes `a < b` too (it escapes the `<`),
 * and a harmless change is no attack. This module answers one question — would this text carry
 * something executable if a careless renderer inserted it as HTML? — by parsing it the way a
 * browser does (parse5, the WHATWG parser, scripting on) and walking the tree:
 *
 * - elements that run or load code or change the page: script, style, iframe, frame, frameset,
 *   object, embed, applet, base, link, meta, portal;
 * - event-handler attributes (`on*`), `srcdoc`, SVG animations that target a handler or a link;
 * - `javascript:`, `vbscript:`, `livescript:`, `mocha:` in any attribute, `data:` in a URL
 *   attribute, after entity decoding and with the whitespace and control characters removed that
 *   browsers ignore or attackers insert;
 * - CSS that runs code (`expression(`, `-moz-binding`, `behavior`, `@import`, `url(javascript:`);
 * - legacy directives: `<?import>`, server-side includes, Netscape `&{…}` entities;
 * - the same, once more, inside the places where markup hides as text: raw-text elements (`xmp`,
 *   `noscript`, `plaintext`, `textarea`, `title`, …), comments (IE conditional comments),
 *   attribute values, and a tag left open at the end of the text;
 * - bare `javascript:`/`vbscript:` URLs and `data:text/html`-like URLs in text, except inside
 *   `<code>`.
 *
 * Text without `<`, `&` or `:` cannot hold any of this and is answered without parsing.
 */
import { Tokenizer, type Token } from 'parse5';

export type ActiveContentKind = 'element' | 'event_handler' | 'url' | 'srcdoc' | 'css' | 'directive';

export interface ActiveContent {
  kind: ActiveContentKind;
  /** The element, attribute or scheme that matched (lower case, at most 32 characters). */
  name: string;
}

const DANGEROUS_ELEMENTS: ReadonlySet<string> = new Set([
  'script',
  'style',
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'base',
  'link',
  'meta',
  'portal',
  'fencedframe',
]);
/** Elements whose content the parser keeps as text: markup inside them is re-examined. */
const TEXT_CONTAINERS: ReadonlySet<string> = new Set(['xmp', 'noscript', 'noembed', 'noframes', 'plaintext', 'textarea', 'title', 'listing']);
/** Attributes whose value is fetched or navigated to. */
const URL_ATTRIBUTES: ReadonlySet<string> = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'data',
  'xlink:href',
  'background',
  'lowsrc',
  'dynsrc',
  'poster',
  'code',
  'codebase',
  'srcset',
  'imagesrcset',
  'values',
  'to',
  'from',
  'by',
  'ping',
  'cite',
  'longdesc',
  'usemap',
  'manifest',
  'icon',
  'content',
]);
const SVG_ANIMATIONS: ReadonlySet<string> = new Set(['set', 'animate', 'animatemotion', 'animatetransform', 'animatecolor']);

/** Schemes that run script wherever a URL is read. */
const SCRIPT_SCHEME = /^(javascript|vbscript|livescript|mocha):/;
/** Characters browsers drop from a URL, or that attackers slip in to split the scheme. */
const URL_NOISE = /^[`'"]+|[\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff\ufffd]|<!--.*?-->/g;
const CSS_COMMENT = /\/\*.*?\*\//gs;
const CSS_ESCAPE = /\\([0-9a-f]{1,6}\s?|[^0-9a-f\n])/gi;
const CSS_CODE = /expression|javascript:|vbscript:|-moz-binding|behavio(u)?r|@import|url\((["']?)data:/;
/** A handler written into a value, for parsers that once honoured backticks as quotes (IE). */
const HANDLER_IN_VALUE = /(?:^|[\s"'`/])on[a-z]{3,}\s*=/i;
/** Comments that are directives to a server or to old browsers, not comments. */
const DIRECTIVE_COMMENT = /^(?:\?(?:import|php|=|\s)|\s*#\s*(?:exec|include|echo|config)\b)/i;
/** Bare URLs in text: a script scheme directly followed by code, or an HTML-ish data: URL. */
const TEXT_URL =
  /(?<![\w/.+-])(?:(?:java|vb|live)script:(?=\S)|data:(?:text\/html|text\/xml|application\/xhtml|application\/xml|image\/svg|text\/javascript|application\/javascript))/i;
const QUICK = /[<&:]/;
/** Re-examination of hidden markup goes this deep and no deeper. */
const MAX_DEPTH = 3;

function finding(kind: ActiveContentKind, name: string): ActiveContent {
  return { kind, name: name.toLowerCase().slice(0, 32) };
}

function urlScheme(value: string, urlAttribute: boolean): string | undefined {
  const normalized = value.replace(URL_NOISE, '').toLowerCase();
  const m = SCRIPT_SCHEME.exec(normalized);
  if (m) return m[1];
  return urlAttribute && normalized.startsWith('data:') ? 'data' : undefined;
}

function cssRunsCode(css: string): boolean {
  const decoded = css
    .replace(CSS_COMMENT, '')
    .replace(CSS_ESCAPE, (_m, esc: string) => (/^[0-9a-f]/i.test(esc) ? String.fromCodePoint(Math.min(parseInt(esc, 16) || 0xfffd, 0x10ffff)) : esc))
    .replace(URL_NOISE, '')
    .toLowerCase();
  return CSS_CODE.test(decoded);
}

function attributeName(attr: Token.Attribute): string {
  return (attr.prefix ? `${attr.prefix}:${attr.name}` : attr.name).toLowerCase();
}

function noop(): void {}

/**
 * One pass of the WHATWG tokenizer, held in the data state: every tag the text holds is seen,
 * wherever a tree builder would later put or drop it (`<td>` outside a table, attributes of a
 * second `<body>`, markup inside `xmp` or `textarea`), so the answer does not depend on where a
 * renderer inserts the text.
 */
class Scan {
  private found: ActiveContent | undefined;
  private openAtEnd = false;
  /** `<code>` elements open at this point: text inside them is code, not a link. */
  private inCode = 0;
  /** Raw-text or re-serialized containers open: text inside them may turn into markup (mXSS). */
  private inContainer = 0;
  private text = '';

  constructor(private readonly depth: number) {}

  run(html: string): ActiveContent | undefined {
    const tokenizer = new Tokenizer(
      {},
      {
        onStartTag: (token) => this.startTag(token),
        onEndTag: (token) => {
          this.flushText();
          if (token.tagName === 'code' && this.inCode > 0) this.inCode--;
          if (TEXT_CONTAINERS.has(token.tagName) && this.inContainer > 0) this.inContainer--;
        },
        onComment: (token) => {
          this.flushText();
          this.found ??= DIRECTIVE_COMMENT.test(token.data) ? finding('directive', 'comment') : token.data.includes('<') ? this.nested(token.data) : undefined;
        },
        onDoctype: () => this.flushText(),
        onCharacter: (token) => void (this.text += token.chars),
        onWhitespaceCharacter: (token) => void (this.text += token.chars),
        onNullCharacter: noop,
        onEof: () => this.flushText(),
        onParseError: (error) => {
          if (error.code === 'eof-in-tag') this.openAtEnd = true;
        },
      },
    );
    tokenizer.write(html, true);
    if (this.found) return this.found;
    // The tokenizer drops a tag left open at the end, but the page around the text would close it.
    if (this.openAtEnd && this.depth < MAX_DEPTH) return new Scan(this.depth + 1).run(`${html}>`);
    return undefined;
  }

  private flushText(): void {
    if (this.text === '') return;
    if (this.inContainer > 0 && this.text.includes('<')) this.found ??= this.nested(this.text);
    else if (this.inCode === 0) this.found ??= bareText(this.text);
    this.text = '';
  }

  private nested(text: string): ActiveContent | undefined {
    if (this.depth >= MAX_DEPTH) return undefined;
    return text.includes('<') ? new Scan(this.depth + 1).run(text) : bareText(text);
  }

  private startTag(token: Token.TagToken): void {
    this.flushText();
    if (this.found) return;
    const tag = token.tagName;
    if (tag === 'code' && !token.selfClosing) this.inCode++;
    if (TEXT_CONTAINERS.has(tag)) this.inContainer++;
    this.found = this.element(tag, token.attrs);
  }

  private element(tag: string, attrs: readonly Token.Attribute[]): ActiveContent | undefined {
    if (DANGEROUS_ELEMENTS.has(tag)) return finding('element', tag);
    // `<scr<script>ipt>`: a name that swallowed a tag, aimed at filters that strip `<script>`.
    const inner = tag.indexOf('<');
    if (inner >= 0) {
      const found = this.nested(`${tag.slice(inner)}>`);
      if (found) return found;
    }
    const animation = SVG_ANIMATIONS.has(tag);
    for (const attr of attrs) {
      const found = this.attribute(attributeName(attr), attr.value, animation);
      if (found) return found;
    }
    return undefined;
  }

  private attribute(name: string, value: string, animation: boolean): ActiveContent | undefined {
    // Attribute names the tokenizer glued to junk (`""onerror`, `/onload`) still name a handler.
    const bare = name.replace(/^[^a-z]+/, '');
    if (/^on[a-z]/.test(bare)) return finding('event_handler', bare);
    if (name === 'srcdoc') return finding('srcdoc', name);
    if (name === 'style' && cssRunsCode(value)) return finding('css', name);
    if (animation && name === 'attributename' && /^(on|href$|xlink:href$)/i.test(value.trim())) return finding('event_handler', value.trim());
    const url = URL_ATTRIBUTES.has(name);
    const candidates = name === 'srcset' || name === 'imagesrcset' ? value.split(',') : [value];
    for (const candidate of candidates) {
      const scheme = urlScheme(candidate, url);
      if (scheme) return finding('url', scheme);
    }
    if (value.includes('&{')) return finding('directive', 'entity');
    if (HANDLER_IN_VALUE.test(value)) return finding('event_handler', name);
    return value.includes('<') ? this.nested(value) : undefined;
  }
}

function bareText(text: string): ActiveContent | undefined {
  const m = TEXT_URL.exec(text);
  return m ? finding('url', m[0].replace(/:.*$/, '')) : undefined;
}

/** The first piece of active content in a message text, or undefined when it has none. */
export function findActiveContent(text: string): ActiveContent | undefined {
  if (!QUICK.test(text)) return undefined;
  if (!text.includes('<') && !text.includes('&')) return bareText(text);
  return new Scan(0).run(text);
}
