/**
 * Message text to DOM, safely. The server already sanitized the text (contract section 4); the
 * page does it again with DOMPurify and the very same allowlist, so a server bug or a hostile
 * relay still cannot inject script. DOMPurify returns a DOM fragment, appended as nodes: the raw
 * text is never assigned to `innerHTML`.
 */
import DOMPurify, { type Config } from 'dompurify';
import { ALLOWED_SCHEMES, ALLOWED_TAGS, LINK_REL } from '../../src/protocol/markup.js';

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

/** The message text as a fragment of allowlisted nodes. */
export function renderText(text: string): DocumentFragment {
  hook();
  return DOMPurify.sanitize(text, CONFIG);
}

/** The message text reduced to plain text (for reply quotes). */
export function plainText(text: string): string {
  return renderText(text).textContent ?? '';
}
