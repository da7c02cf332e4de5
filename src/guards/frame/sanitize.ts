/**
 * Message text sanitization (contract section 4): `b i em strong code` and `a` with an http(s)
 * or mailto `href` survive, links get a forced `rel`; every other tag is escaped into visible
 * text and every other attribute dropped. Deterministic: the same input always gives the same
 * output. Text without `<`, `>` or `&` has nothing to sanitize and skips the HTML parser.
 */
import sanitizeHtml from 'sanitize-html';
import { ALLOWED_SCHEMES, ALLOWED_TAGS, LINK_REL } from '../../protocol/markup.js';

const ABSOLUTE_ALLOWED = new RegExp(`^(?:${ALLOWED_SCHEMES.join('|')}):`, 'i');

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: [...ALLOWED_TAGS],
  allowedAttributes: { a: ['href', 'rel'] },
  allowedSchemes: [...ALLOWED_SCHEMES],
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'escape',
  parser: { lowerCaseTags: true, lowerCaseAttributeNames: true },
  transformTags: {
    // Only absolute http(s)/mailto links survive: relative and scheme-less hrefs are dropped too.
    a: (_tagName, attribs): sanitizeHtml.Tag => ({
      tagName: 'a',
      attribs: attribs.href && ABSOLUTE_ALLOWED.test(attribs.href.trim()) ? { href: attribs.href.trim(), rel: LINK_REL } : {},
    }),
  },
};

const NEEDS_WORK = /[<>&]/;

export function sanitizeText(text: string): string {
  return NEEDS_WORK.test(text) ? sanitizeHtml(text, OPTIONS) : text;
}
