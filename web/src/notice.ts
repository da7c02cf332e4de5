/**
 * The page's feedback line: an error (or a plain notice) that clears itself after a while, can be
 * dismissed, and is replaced rather than stacked, so nothing stale stays on screen. The timer
 * waits while the pointer or focus is on the notice, so it can be read at any pace.
 */
import { h } from './dom.js';

export type NoticeKind = 'error' | 'info';

export interface Notice {
  element: HTMLElement;
  /** Shows `text` for `ms` (default 6 s). */
  show(text: string, options?: { kind?: NoticeKind; ms?: number }): void;
  clear(): void;
}

export const NOTICE_MS = 6000;

export function notice(): Notice {
  const text = h('span', { class: 'notice__text' });
  const dismiss = h('button', { type: 'button', class: 'link-btn notice__dismiss', 'aria-label': 'Dismiss notice' }, '×');
  // The live region stays in the page (empty when idle) so screen readers announce each change.
  const live = h('div', { role: 'alert', class: 'notice__live' });
  const element = h('div', { class: 'notice', hidden: true }, live, dismiss);
  live.append(text);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let remaining = 0;
  let since = 0;
  let held = false;

  const clear = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    held = false;
    text.textContent = '';
    element.hidden = true;
  };
  const arm = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (held || element.hidden) return;
    since = Date.now();
    timer = setTimeout(clear, remaining);
  };
  const hold = (): void => {
    if (held) return;
    held = true;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
      remaining = Math.max(1500, remaining - (Date.now() - since));
    }
  };
  const release = (): void => {
    if (!held || element.matches(':hover') || element.contains(document.activeElement)) return;
    held = false;
    arm();
  };

  dismiss.addEventListener('click', clear);
  element.addEventListener('pointerenter', hold);
  element.addEventListener('pointerleave', release);
  element.addEventListener('focusin', hold);
  element.addEventListener('focusout', () => setTimeout(release, 0));

  return {
    element,
    show(message, options = {}) {
      text.textContent = message;
      element.dataset.kind = options.kind ?? 'error';
      element.hidden = false;
      remaining = options.ms ?? NOTICE_MS;
      arm();
    },
    clear,
  };
}
