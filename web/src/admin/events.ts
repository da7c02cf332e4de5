/**
 * Stored security events: filters (severity, type, user, IP, time), newest first, counts per type
 * for the filters, a live tail (new events and rows whose count grew come in at the top every
 * 2 s), and "Older" to page back.
 */
import { field, h } from '../dom.js';
import type { AdminApi } from './api.js';
import { ago, clock, detailList, emptyRow, panel, type Notices } from './ui.js';

export interface WireEvent {
  id: number;
  ts: number;
  lastTs: number;
  count: number;
  type: string;
  severity: string;
  ip?: string;
  user?: string;
  detail?: Record<string, unknown>;
}

interface Page {
  events: WireEvent[];
  next?: string;
  counts: { total: number; byType: Record<string, number>; bySeverity: Record<string, number> };
  since: number;
  now: number;
}

const RANGES: Array<[string, number]> = [
  ['Last 15 minutes', 15 * 60_000],
  ['Last hour', 3_600_000],
  ['Last 24 hours', 86_400_000],
  ['Last 7 days', 7 * 86_400_000],
];
const MAX_ROWS = 500;

export function eventsPanel(api: AdminApi, notes: Notices): { element: HTMLElement; reload(): Promise<void>; tail(): Promise<void> } {
  const severity = h(
    'select',
    { name: 'severity' },
    h('option', { value: '' }, 'Any'),
    h('option', { value: 'notice' }, 'Notice and above'),
    h('option', { value: 'warning' }, 'Warning and above'),
    h('option', { value: 'error' }, 'Error and above'),
    h('option', { value: 'critical' }, 'Critical only'),
  );
  const type = h('input', { name: 'type', list: 'event-types', placeholder: 'e.g. origin_rejected', autocomplete: 'off', spellcheck: 'false', maxlength: '64' });
  const types = h('datalist', { id: 'event-types' });
  const user = h('input', { name: 'user', placeholder: 'user id', autocomplete: 'off', spellcheck: 'false', maxlength: '128' });
  const ip = h('input', { name: 'ip', placeholder: '203.0.113.9', autocomplete: 'off', spellcheck: 'false', maxlength: '64' });
  const range = h('select', { name: 'range' }, ...RANGES.map(([label, ms]) => h('option', { value: String(ms), selected: ms === 86_400_000 }, label)));
  const live = h('input', { type: 'checkbox', name: 'live', checked: true });
  const filters = h(
    'form',
    { class: 'filters', 'aria-label': 'Event filters' },
    field('Severity', severity, 'field field--inline'),
    field('Type', type, 'field field--inline'),
    field('User', user, 'field field--inline'),
    field('IP', ip, 'field field--inline'),
    field('Time', range, 'field field--inline'),
    h('label', { class: 'check' }, live, ' Live tail'),
    types,
  );
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' }, 'Loading events…');
  const chips = h('div', { class: 'chips', 'aria-label': 'Events per type' });
  const body = h('tbody', {});
  const table = h(
    'table',
    { class: 'events', 'aria-label': 'Security events' },
    h(
      'thead',
      {},
      h('tr', {}, h('th', {}, 'Last seen'), h('th', {}, 'Severity'), h('th', {}, 'Type'), h('th', {}, 'Count'), h('th', {}, 'User'), h('th', {}, 'IP'), h('th', {}, 'Details')),
    ),
    body,
  );
  const older = h('button', { type: 'button', class: 'btn', hidden: true }, 'Older events');
  const element = panel('events', 'Security events', filters, summary, chips, h('div', { class: 'scroll' }, table), older);

  const rows = new Map<number, HTMLTableRowElement>();
  let next: string | undefined;
  let after = 0;
  let loading = false;

  const query = (): Record<string, string | number | undefined> => ({
    severity: severity.value || undefined,
    type: type.value.trim() || undefined,
    user: user.value.trim() || undefined,
    ip: ip.value.trim() || undefined,
    since: Date.now() - Number(range.value),
  });

  const row = (e: WireEvent): HTMLTableRowElement =>
    h(
      'tr',
      { class: `event event--${/^[a-z]+$/.test(e.severity) ? e.severity : 'info'}`, 'data-id': String(e.id), 'data-ts': String(e.ts) },
      h(
        'td',
        {},
        h('time', { datetime: new Date(e.lastTs).toISOString(), title: `first ${new Date(e.ts).toLocaleString()}` }, clock(e.lastTs)),
        h('span', { class: 'muted' }, ` ${ago(e.lastTs)}`),
      ),
      h('td', {}, h('span', { class: `badge badge--${/^[a-z]+$/.test(e.severity) ? e.severity : 'info'}` }, e.severity)),
      h('td', { class: 'mono' }, e.type),
      h('td', { class: 'num' }, e.count > 1 ? `×${e.count}` : '1'),
      h('td', { class: 'mono' }, e.user ?? '–'),
      h('td', { class: 'mono' }, e.ip ?? '–'),
      h('td', {}, detailList(e.detail) ?? h('span', { class: 'muted' }, '–')),
    );

  /**
   * Inserts or updates rows, newest first by first occurrence (the server's order): the tail's
   * new rows go to their place at the top, a row whose count grew is updated where it is, an older
   * page is appended.
   */
  const place = (events: WireEvent[], tail: boolean): void => {
    body.querySelector('tr.empty')?.remove();
    for (const e of events) {
      const fresh = row(e);
      const old = rows.get(e.id);
      rows.set(e.id, fresh);
      if (old) {
        old.replaceWith(fresh);
        continue;
      }
      if (!tail) {
        body.append(fresh);
        continue;
      }
      let before = body.firstElementChild as HTMLTableRowElement | null;
      while (before && Number(before.dataset.ts) > e.ts) before = before.nextElementSibling as HTMLTableRowElement | null;
      body.insertBefore(fresh, before);
    }
    while (rows.size > MAX_ROWS) {
      const last = body.lastElementChild as HTMLTableRowElement | null;
      if (!last) break;
      rows.delete(Number(last.dataset.id));
      last.remove();
    }
  };

  const showCounts = (page: Page): void => {
    const label = RANGES.find(([, ms]) => String(ms) === range.value)?.[0]?.toLowerCase() ?? 'the chosen time';
    summary.textContent = page.counts.total
      ? `${page.counts.total} event${page.counts.total === 1 ? '' : 's'} in the ${label.replace(/^last /, 'last ')}${live.checked ? ' · live' : ''}.`
      : '';
    const entries = Object.entries(page.counts.byType).sort((a, b) => b[1] - a[1]);
    chips.replaceChildren(
      ...entries.slice(0, 12).map(([t, n]) => {
        const chip = h('button', { type: 'button', class: 'chip', title: `Show only ${t}` }, `${t} ×${n}`);
        chip.addEventListener('click', () => {
          type.value = t;
          void reload();
        });
        return chip;
      }),
    );
    types.replaceChildren(...entries.map(([t]) => h('option', { value: t })));
  };

  const reload = async (): Promise<void> => {
    loading = true;
    try {
      const page = await api.get<Page>('events', { ...query(), limit: 50 });
      rows.clear();
      body.replaceChildren();
      place(page.events, false);
      next = page.next;
      older.hidden = next === undefined;
      after = Math.max(page.now - 2000, ...page.events.map((e) => e.lastTs));
      showCounts(page);
      if (page.events.length === 0) {
        const filtered = severity.value || type.value.trim() || user.value.trim() || ip.value.trim();
        body.append(
          emptyRow(
            7,
            filtered
              ? 'No event matches these filters in this time range. Clear a filter or widen the time range.'
              : 'No security events in this time range — normal for a quiet server. Refused handshakes, failed logins, bans and the other defences appear here as they happen.',
          ),
        );
        summary.textContent = live.checked ? 'Waiting for events (live tail on, every 2 s).' : 'No events.';
      }
    } catch (error) {
      notes.fail(error, 'load the events');
    } finally {
      loading = false;
    }
  };

  const tail = async (): Promise<void> => {
    if (!live.checked || loading) return;
    const changes = await api.get<{ events: WireEvent[]; now: number }>('events/changes', { ...query(), after });
    if (changes.events.length === 0) return;
    after = Math.max(after, ...changes.events.map((e) => e.lastTs));
    place(changes.events, true);
    // Counts follow the tail on the next full reload; keep the total roughly right meanwhile.
    const page = await api.get<Page>('events', { ...query(), limit: 1 });
    showCounts(page);
  };

  let debounce: ReturnType<typeof setTimeout> | undefined;
  filters.addEventListener('input', () => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => void reload(), 300);
  });
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    void reload();
  });
  older.addEventListener('click', () => {
    if (!next) return;
    older.disabled = true;
    api
      .get<Page>('events', { ...query(), limit: 50, before: next })
      .then((page) => {
        place(page.events, false);
        next = page.next;
        older.hidden = next === undefined;
      })
      .catch((error: unknown) => notes.fail(error, 'load older events'))
      .finally(() => (older.disabled = false));
  });

  return { element, reload, tail };
}
