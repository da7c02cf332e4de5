/**
 * The message markup allowlist (contract section 4, "Message text"), shared by the server's
 * sanitizer and the web app's renderer so both agree on what may survive.
 */
export const ALLOWED_TAGS = ['b', 'i', 'em', 'strong', 'code', 'a'] as const;
export const ALLOWED_SCHEMES = ['http', 'https', 'mailto'] as const;
/** Forced on every surviving link. */
export const LINK_REL = 'noopener noreferrer nofollow ugc';
