/**
 * Date separators: a "Today", "Yesterday" or dated line between messages of different days, in
 * the reader's local time. Separators are derived from the messages' `data-ts`, so they are
 * recomputed (cheaply, one pass) whenever messages are added or the day changes.
 */
import { h } from './dom.js';

const DAY_MS = 86_400_000;

function startOfDay(ts: number): number {
  const d = new Date(ts);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** A local day key, `YYYY-M-D`. */
export function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** "Today", "Yesterday", a weekday and date this year, or a full date. */
export function dayLabel(ts: number, now = Date.now()): string {
  const today = startOfDay(now);
  const day = startOfDay(ts);
  if (day === today) return 'Today';
  // Noon-anchored so a daylight-saving change does not turn yesterday into today.
  if (dayKey(today - DAY_MS / 2) === dayKey(ts)) return 'Yesterday';
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return new Date(ts).toLocaleDateString([], sameYear ? { weekday: 'long', month: 'long', day: 'numeric' } : { year: 'numeric', month: 'long', day: 'numeric' });
}

/** Puts one separator before the first message of each day in `list` (items with `data-ts`). */
export function markDays(list: HTMLElement, now = Date.now()): void {
  for (const old of Array.from(list.querySelectorAll(':scope > .day'))) old.remove();
  let previous: string | undefined;
  for (const item of Array.from(list.children) as HTMLElement[]) {
    const ts = Number(item.dataset.ts);
    if (!item.dataset.ts || !Number.isFinite(ts)) continue;
    const key = dayKey(ts);
    if (key !== previous) {
      const label = dayLabel(ts, now);
      item.before(h('li', { class: 'day', role: 'separator', 'aria-label': label }, h('span', { class: 'day__label' }, label)));
      previous = key;
    }
  }
}
