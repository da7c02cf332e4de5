/** The announcement form: a message to every connection, on every node. */
import { field, h } from '../dom.js';
import type { AdminApi } from './api.js';
import { clock, panel, type Notices } from './ui.js';

export function announcePanel(api: AdminApi, notes: Notices): HTMLElement {
  const text = h('textarea', { name: 'announcement', rows: '3', maxlength: '4000', required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Send announcement');
  const form = h('form', { 'aria-label': 'Announcement' }, field('Announcement to everyone', text), submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value) {
      notes.fail(new Error('write the announcement first'), 'send the announcement');
      return;
    }
    submit.disabled = true;
    api
      .post<{ ts: number }>('announcements', { text: value })
      .then(({ ts }) => {
        text.value = '';
        notes.ok(`Announcement sent to every connection at ${clock(ts)}.`);
      })
      .catch((error: unknown) => notes.fail(error, 'send the announcement'))
      .finally(() => (submit.disabled = false));
  });
  return panel('announce', 'Announcement', h('p', { class: 'hint' }, 'Every connected user sees it at once, marked as coming from you.'), form);
}
