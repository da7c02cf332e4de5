/**
 * Message text sanitization (contract section 4, "Message text"). Only the allowlisted tags
 * survive: `b i em strong code` without attributes, and `a` whose attributes are an absolute
 * `http:`, `https:` or `mailto:` `href` (and a `rel`, which is replaced by the forced one).
 * Everything else — every other tag, every tag that carries any other attribute, comments,
 * doctypes, stray `<` and `>` — is escaped from the exact source the user typed, so the reader
 * sees what was typed, as text, and distinct inputs stay distinct (the repeat-spam rule must not
 * mute someone because two different messages collapsed into the same escaped text).
 *
 * The text is HTML: character references are honoured (`&lt;` shows as `<`), and every output
 * `&` is a reference, so the output decodes to the input and sanitizing twice changes nothing.
 *
 * Tokenization is parse5's, the WHATWG tokenizer browsers implement, kept in the data state: a
 * tag is whatever a browser would read as a tag. Only tags this module writes itself reach the
 * output unescaped, so a browser parsing the output finds no element and no attribute outside
 * the allowlist, whatever the input. Text without `<`, `>` or `&` has nothing to escape and skips
 * the tokenizer.
 */
import { Tokenizer, type Token } from 'parse5';
import { decodeHTML } from 'entities';
import { ALLOWED_SCHEMES, ALLOWED_TAGS, LINK_REL } from '../../protocol/markup.js';

export interface Sanitized {
  /** The text to store and deliver. */
  text: string;
  /**
   * Markup tokens (tags, comments, doctypes) that were escaped into text instead of kept: what
   * `content_sanitized` reports. A stray `<` as in `a < b` or `I <3 you` is no markup.
   */
  escapedMarkup: number;
}

const ABSOLUTE_ALLOWED = new RegExp(`^(?:${ALLOWED_SCHEMES.join('|')}):`, 'i');
/** C0 controls, space and DEL inside an href: nothing a real link needs, much an evasion uses. */
const HREF_FORBIDDEN = /[\u0000-\u0020\u007f]/;
const PLAIN_TAGS: ReadonlySet<string> = new Set(ALLOWED_TAGS.filter((t) => t !== 'a'));
const NEEDS_WORK = /[<>&]/;

function escapeText(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

function escapeAttribute(value: string): string {
  return value.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

/** The escaped form of a stretch of source: character references decoded, then `& < >` escaped. */
function escapeSource(source: string): string {
  return escapeText(source.includes('&') ? decodeHTML(source) : source);
}

/** The tag to write for an allowed start tag, or undefined when it must be escaped. */
function allowedStartTag(token: Token.TagToken): string | undefined {
  if (token.selfClosing) return undefined;
  if (PLAIN_TAGS.has(token.tagName)) return token.attrs.length === 0 ? `<${token.tagName}>` : undefined;
  if (token.tagName !== 'a') return undefined;
  let href: string | undefined;
  for (const attr of token.attrs) {
    if (attr.name === 'href' && attr.namespace === undefined) href = attr.value.trim();
    else if (attr.name !== 'rel') return undefined;
  }
  if (href === undefined || !ABSOLUTE_ALLOWED.test(href) || HREF_FORBIDDEN.test(href)) return undefined;
  return `<a href="${escapeAttribute(href)}" rel="${LINK_REL}">`;
}

interface Tag {
  start: number;
  end: number;
  /** Start tag text to write, when allowed; '' for an end tag. */
  open: string | undefined;
  /** End tag name; undefined for a start tag. */
  closes: string | undefined;
}

/** Tags of the text, in source order, and the offsets of parse errors. */
function tokenize(text: string): { tags: Tag[]; errors: number[]; markup: number } {
  const tags: Tag[] = [];
  const errors: number[] = [];
  let markup = 0;
  const noop = (): void => {};
  const tokenizer = new Tokenizer(
    { sourceCodeLocationInfo: true },
    {
      onStartTag(token) {
        markup++;
        tags.push({ start: token.location!.startOffset, end: token.location!.endOffset, open: allowedStartTag(token), closes: undefined });
      },
      onEndTag(token) {
        markup++;
        const plain = PLAIN_TAGS.has(token.tagName) || token.tagName === 'a';
        tags.push({ start: token.location!.startOffset, end: token.location!.endOffset, open: undefined, closes: plain && token.attrs.length === 0 ? token.tagName : undefined });
      },
      onComment: () => void markup++,
      onDoctype: () => void markup++,
      onCharacter: noop,
      onNullCharacter: noop,
      onWhitespaceCharacter: noop,
      onEof: noop,
      onParseError: (error) => void errors.push(error.startOffset),
    },
  );
  tokenizer.write(text, true);
  return { tags, errors, markup };
}

export function sanitizeMarkup(text: string): Sanitized {
  if (!NEEDS_WORK.test(text)) return { text, escapedMarkup: 0 };
  const { tags, errors, markup } = tokenize(text);
  let out = '';
  let cursor = 0;
  let kept = 0;
  /** Allowed elements open in the output, innermost last. */
  const open: string[] = [];
  let errorAt = 0;
  for (const tag of tags) {
    // A tag the tokenizer had to repair (duplicate attribute, missing space, stray solidus…)
    // is not kept: the repaired form would not be what was typed.
    while (errorAt < errors.length && errors[errorAt]! < tag.start) errorAt++;
    const clean = errorAt >= errors.length || errors[errorAt]! >= tag.end;
    let write: string | undefined;
    if (clean && tag.open !== undefined) {
      const name = tag.open.startsWith('<a ') ? 'a' : tag.open.slice(1, -1);
      // A link inside a link is not kept: browsers would restructure it.
      if (name !== 'a' || !open.includes('a')) {
        open.push(name);
        write = tag.open;
      }
    } else if (clean && tag.closes !== undefined && open.includes(tag.closes)) {
      write = '';
      // Close what is still open inside it, so the output nests exactly as written here.
      while (open.length > 0) {
        const name = open.pop()!;
        write += `</${name}>`;
        if (name === tag.closes) break;
      }
    }
    if (write === undefined) continue;
    kept++;
    out += escapeSource(text.slice(cursor, tag.start)) + write;
    cursor = tag.end;
  }
  out += escapeSource(text.slice(cursor));
  for (let i = open.length - 1; i >= 0; i--) out += `</${open[i]}>`;
  return { text: out, escapedMarkup: markup - kept };
}

export function sanitizeText(text: string): string {
  return sanitizeMarkup(text).text;
}
