/**
 * Plain URLs in message text made into links, the safe way: only the schemes of the server's
 * allowlist (`http`, `https`, `mailto`, docs/protocol.md "Message text"), the same forced `rel`,
 * built with DOM APIs on text nodes: the text is never parsed as markup.
 */
import { ALLOWED_SCHEMES, LINK_REL } from '../../src/protocol/markup.js';

const ALLOWED: ReadonlySet<string> = new Set(ALLOWED_SCHEMES.map((s) => `${s}:`));
/** A candidate: an allowed scheme at a word start, then everything up to a space or a quote/angle. */
const CANDIDATE = new RegExp(`\\b(?:${ALLOWED_SCHEMES.join('|')}):[^\\s<>"'\`]+`, 'gi');
/** Punctuation that ends a sentence rather than the URL. */
const TRAILING = /[.,;:!?*_~]+$/;

/** Trims trailing punctuation and a closing bracket that has no opening one inside the URL. */
function trimEnd(candidate: string): string {
  let url = candidate;
  for (;;) {
    const before = url;
    url = url.replace(TRAILING, '');
    for (const [open, close] of [
      ['(', ')'],
      ['[', ']'],
      ['{', '}'],
    ] as const) {
      if (url.endsWith(close) && url.split(open).length < url.split(close).length) url = url.slice(0, -1);
    }
    if (url === before) return url;
  }
}

/** The link target when `text` is a URL the allowlist accepts, else undefined. */
export function safeHref(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!ALLOWED.has(url.protocol)) return undefined;
  if (url.protocol === 'mailto:' ? url.pathname.length === 0 : url.hostname.length === 0 || !/^https?:\/\//i.test(text)) return undefined;
  return url.href;
}

/** A link as the page renders every message link: the allowlisted href, `rel`, a new tab. */
export function safeLink(href: string, text: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.href = href;
  a.rel = LINK_REL;
  a.target = '_blank';
  a.textContent = text;
  return a;
}

/** Replaces plain URLs in the text nodes under `root` (outside links and code) with links. */
export function linkify(root: Node): void {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement?.closest('a, code') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const texts: Text[] = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) texts.push(node as Text);
  for (const node of texts) linkifyText(node);
}

function linkifyText(node: Text): void {
  const text = node.data;
  CANDIDATE.lastIndex = 0;
  let match: RegExpExecArray | null;
  let last = 0;
  const parts: Node[] = [];
  while ((match = CANDIDATE.exec(text)) !== null) {
    const url = trimEnd(match[0]);
    const href = safeHref(url);
    if (!href) continue;
    if (match.index > last) parts.push(document.createTextNode(text.slice(last, match.index)));
    parts.push(safeLink(href, url));
    last = match.index + url.length;
    CANDIDATE.lastIndex = last;
  }
  if (parts.length === 0) return;
  if (last < text.length) parts.push(document.createTextNode(text.slice(last)));
  node.replaceWith(...parts);
}
