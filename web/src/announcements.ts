/** Admin announcements (`announcement {text, from, ts}`): shown on top, each dismissible. */
import { formatTime, h } from './dom.js';
import { renderText } from './render.js';

export function showAnnouncement(container: HTMLElement, { text, from, ts }: { text: string; from: string; ts: number }): void {
  const body = h('div', { class: 'announcement__body' });
  body.append(renderText(text));
  const dismiss = h('button', { type: 'button', class: 'link-btn' }, 'Dismiss');
  const item = h('div', { class: 'announcement', role: 'alert' }, h('strong', {}, `Announcement from ${from} · ${formatTime(ts)}`), body, dismiss);
  dismiss.addEventListener('click', () => item.remove());
  container.append(item);
}
