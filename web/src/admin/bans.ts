/** Bans in force, with unban, and a form to ban a user or an IP for a chosen time. */
import { field, h } from '../dom.js';
import type { AdminApi } from './api.js';
import { BAN_DURATIONS, confirmAction, dateTime, emptyRow, panel, remaining, type Notices } from './ui.js';

interface WireBan {
  kind: 'user' | 'ip';
  value: string;
  until: number;
  level: number;
  reason: string;
  createdAt: number;
}

export function bansPanel(api: AdminApi, notes: Notices, changed: () => void): { element: HTMLElement; refresh(): Promise<void> } {
  const kind = h('select', { name: 'kind' }, h('option', { value: 'ip' }, 'IP address'), h('option', { value: 'user' }, 'User id'));
  const value = h('input', { name: 'value', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: '128', placeholder: '203.0.113.9 or acct:alice' });
  const duration = h('select', { name: 'duration' }, ...BAN_DURATIONS.map(([label, ms]) => h('option', { value: String(ms), selected: ms === 3_600_000 }, label)));
  const reason = h('input', { name: 'reason', autocomplete: 'off', maxlength: '200', placeholder: 'optional' });
  const submit = h('button', { type: 'submit', class: 'btn btn--danger' }, 'Ban');
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Ban a user or an IP' },
    field('Kind', kind, 'field field--inline'),
    field('Value', value, 'field field--inline field--grow'),
    field('For', duration, 'field field--inline'),
    field('Reason', reason, 'field field--inline'),
    submit,
  );
  const body = h('tbody', {});
  const table = h(
    'table',
    { class: 'bans', 'aria-label': 'Bans in force' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Kind'), h('th', {}, 'Value'), h('th', {}, 'Ends'), h('th', {}, 'Reason'), h('th', {}, 'Since'), h('th', {}, ''))),
    body,
  );
  const element = panel('bans', 'Bans', form, h('div', { class: 'scroll' }, table));

  const refresh = async (): Promise<void> => {
    const { bans } = await api.get<{ bans: WireBan[] }>('bans');
    body.replaceChildren(
      ...bans.map((b) => {
        const lift = h('button', { type: 'button', class: 'link-btn' }, 'Unban');
        lift.addEventListener('click', () => {
          void (async () => {
            const ok = await confirmAction({ title: `Lift the ban on ${b.value}?`, body: 'They can connect again at once.', action: 'Unban' });
            if (ok === undefined) return;
            try {
              await api.post('unban', { kind: b.kind, value: b.value });
              notes.ok(`Lifted the ban on ${b.kind === 'ip' ? 'IP' : 'user'} ${b.value}.`);
              changed();
            } catch (error) {
              notes.fail(error, 'unban');
            }
          })();
        });
        return h(
          'tr',
          {},
          h('td', {}, b.kind === 'ip' ? 'IP' : 'user'),
          h('td', { class: 'mono' }, b.value),
          h('td', { title: new Date(b.until).toLocaleString() }, remaining(b.until)),
          h('td', {}, b.reason),
          h('td', {}, dateTime(b.createdAt)),
          h('td', {}, lift),
        );
      }),
    );
    if (bans.length === 0) body.append(emptyRow(6, 'No bans in force. Abuse scoring bans repeat offenders on its own; you can ban here or from a connection.'));
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const v = value.value.trim();
    if (!v) {
      notes.fail(new Error('enter an IP address or a user id'), 'ban');
      return;
    }
    submit.disabled = true;
    api
      .post('bans', { kind: kind.value, value: v, durationMs: Number(duration.value), ...(reason.value.trim() ? { reason: reason.value.trim() } : {}) })
      .then(() => {
        notes.ok(`Banned ${kind.value === 'ip' ? 'IP' : 'user'} ${v} for ${duration.selectedOptions[0]?.textContent ?? ''}.`);
        value.value = '';
        reason.value = '';
        changed();
      })
      .catch((error: unknown) => notes.fail(error, 'ban'))
      .finally(() => (submit.disabled = false));
  });
  return { element, refresh };
}
