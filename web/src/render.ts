/**
 * Message text to DOM, safely. The server already sanitized the text (contract section 4); the
 * page does it again with DOMPurify and the very same allowlist, so a server bug or a hostile
 * relay still cannot inject script. DOMPurify returns a DOM fragment, appended as nodes: the raw
 * text is never assigned to `innerHTML`. Plain URLs left in the text become links (`linkify.ts`).
 */
import DOMPurify, { type Config } from 'dompurify';
import { ALLOWED_SCHEMES, ALLOWED_TAGS, LINK_REL } from '../../src/protocol/markup.js';
import { linkify } from './linkify.js';

const SCHEME = new RegExp(`^(?:${ALLOWED_SCHEMES.join('|')}):`, 'i');

const CONFIG: Config & { RETURN_DOM_FRAGMENT: true } = {
  ALLOWED_TAGS: [...ALLOWED_TAGS],
  ALLOWED_ATTR: ['href'],
  ALLOWED_URI_REGEXP: SCHEME,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  KEEP_CONTENT: true,
  RETURN_DOM_FRAGMENT: true,
};

let hooked = false;
function hook(): void {
  if (hooked) return;
  hooked = true;
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName !== 'A') return;
    const href = node.getAttribute('href');
    // Links without an allowed scheme lose the attribute entirely (relative URLs included).
    if (!href || !SCHEME.test(href.trim())) node.removeAttribute('href');
    node.setAttribute('rel', LINK_REL);
    node.setAttribute('target', '_blank');
  });
}

function sanitize(text: string): DocumentFragment {
  hook();
  return DOMPurify.sanitize(text, CONFIG);
}

/** The message text as a fragment of allowlisted nodes, plain URLs made into links. */
export function renderText(text: string): DocumentFragment {
  const fragment = sanitize(text);
  linkify(fragment);
  return fragment;
}

/** The message text reduced to plain text (for reply quotes). */
export function plainText(text: string): string {
  return sanitize(text).textContent ?? '';
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
}

function sourceOf(node: Node): string {
  if (node.nodeType === Node.TEXT_NODE) return (node as Text).data;
  let inner = '';
  for (const child of Array.from(node.childNodes)) inner += sourceOf(child);
  if (!(node instanceof Element)) return inner;
  const tag = node.tagName.toLowerCase();
  const href = tag === 'a' ? node.getAttribute('href') : null;
  return href ? `<a href="${escapeAttribute(href)}">${inner}</a>` : `<${tag}>${inner}</${tag}>`;
}

/**
 * The message text as its author would type it again, for editing: allowlisted markup stays
 * markup, escaped text is shown as typed (`&lt;b&gt;` → `<b>`), so saving an untouched message
 * gives the server the same input, sanitized to the same text.
 */
export function editableText(text: string): string {
  return sourceOf(sanitize(text));
}
