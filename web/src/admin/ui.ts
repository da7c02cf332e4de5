/**
 * Small pieces the console's panels share: the notice area (success and failure never look
 * alike: a success is a polite status, a failure an alert), a confirmation dialog, time and
 * detail formatting. Everything is built with text nodes (`dom.ts`): nothing the server or a
 * client sent is parsed as HTML.
 */
import { h } from '../dom.js';
import { ApiError } from '../session.js';

export interface Notices {
  element: HTMLElement;
  ok(message: string): void;
  fail(error: unknown, doing: string): void;
}

export function notices(): Notices {
  const status = h('p', { role: 'status', class: 'notice notice--ok', hidden: true });
  const alert = h('p', { role: 'alert', class: 'notice notice--error', hidden: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const show = (shown: HTMLElement, other: HTMLElement, text: string): void => {
    if (timer) clearTimeout(timer);
    other.hidden = true;
    other.textContent = '';
    shown.textContent = text;
    shown.hidden = false;
    timer = setTimeout(() => (shown.hidden = true), 8000);
  };
  return {
    element: h('div', { class: 'notices' }, status, alert),
    ok: (message) => show(status, alert, message),
    fail: (error, doing) => show(alert, status, `Could not ${doing}: ${describe(error)}`),
  };
}

export function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error && error.message) return error.message;
  return 'the server could not be reached.';
}

export interface ConfirmOptions {
  title: string;
  body: string;
  action: string;
  danger?: boolean;
  /** A duration to choose (ban, mute): label and choices in ms. */
  duration?: { label: string; choices: Array<[string, number]>; initial: number };
}

/** A modal confirmation; resolves with the chosen duration (or 0), or undefined when cancelled. */
export function confirmAction(options: ConfirmOptions): Promise<number | undefined> {
  const select = options.duration
    ? h('select', { name: 'duration' }, ...options.duration.choices.map(([label, ms]) => h('option', { value: String(ms), selected: ms === options.duration!.initial }, label)))
    : undefined;
  const cancel = h('button', { type: 'button', class: 'btn', value: 'cancel' }, 'Cancel');
  const confirm = h('button', { type: 'submit', class: `btn ${options.danger ? 'btn--danger' : 'btn--primary'}`, value: 'confirm' }, options.action);
  const form = h(
    'form',
    { method: 'dialog', class: 'confirm' },
    h('h2', {}, options.title),
    h('p', {}, options.body),
    select ? h('label', { class: 'field' }, h('span', { class: 'field__label' }, options.duration!.label), select) : null,
    h('div', { class: 'confirm__actions' }, cancel, confirm),
  );
  const dialog = h('dialog', { class: 'dialog', 'aria-label': options.title }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    let result: number | undefined;
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', () => {
      result = select ? Number(select.value) : 0;
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(result);
    });
    dialog.showModal();
    (select ?? confirm).focus();
  });
}

export const BAN_DURATIONS: Array<[string, number]> = [
  ['10 minutes', 10 * 60_000],
  ['1 hour', 3_600_000],
  ['1 day', 86_400_000],
  ['7 days', 7 * 86_400_000],
  ['30 days', 30 * 86_400_000],
];

export const MUTE_DURATIONS: Array<[string, number]> = [
  ['10 minutes', 10 * 60_000],
  ['1 hour', 3_600_000],
  ['1 day', 86_400_000],
];

export function clock(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function dateTime(ts: number): string {
  return new Date(ts).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** "3 min ago", "2 h ago", or a date. */
export function ago(ts: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return dateTime(ts);
}

/** "for 1 h 5 min", "until …" */
export function remaining(until: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((until - now) / 1000));
  if (s < 60) return `${s} s left`;
  if (s < 3600) return `${Math.ceil(s / 60)} min left`;
  if (s < 172_800) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min left`;
  return `until ${dateTime(until)}`;
}

/** A detail value as text: times (`until`, `expiresAt`, `lastTs`…) as dates, not milliseconds. */
function fieldText(key: string, value: unknown): string {
  if (typeof value === 'number' && value > 1e12 && value < 1e14 && /(at|until|ts)$/i.test(key)) return dateTime(value);
  return scalar(value);
}

function scalar(value: unknown): string {
  if (Array.isArray(value)) return value.map(scalar).join(', ');
  if (value && typeof value === 'object')
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${scalar(v)}`)
      .join('; ');
  return String(value);
}

/**
 * An event's detail as fields (not raw JSON). What the client chose (`untrusted`) is set apart
 * and labelled: it must never read as the server's own words.
 */
export function detailList(detail: Record<string, unknown> | undefined): HTMLElement | null {
  if (!detail) return null;
  const { untrusted, ...own } = detail;
  const dl = h('dl', { class: 'detail' });
  for (const [k, v] of Object.entries(own)) dl.append(h('dt', {}, k), h('dd', {}, fieldText(k, v)));
  if (untrusted && typeof untrusted === 'object') {
    const sent = h('dl', { class: 'detail detail--untrusted' });
    for (const [k, v] of Object.entries(untrusted as Record<string, unknown>)) sent.append(h('dt', {}, k), h('dd', {}, scalar(v)));
    dl.append(h('dt', { class: 'detail__untrusted-label' }, 'sent by the client (untrusted)'), h('dd', {}, sent));
  }
  return dl.childElementCount ? dl : null;
}

export function emptyRow(columns: number, text: string): HTMLTableRowElement {
  return h('tr', { class: 'empty' }, h('td', { colspan: String(columns) }, text));
}

export function panel(id: string, title: string, ...children: Array<Node | null>): HTMLElement {
  return h('section', { class: 'panel card', id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), ...children);
}
