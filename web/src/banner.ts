/**
 * The connection banner (`role="status"`, announced politely by screen readers): tells people
 * when the connection is lost and when the next attempt is, counting down each second.
 */
import { CLOSE, type BulwarkClient } from '../../client/index.js';
import { h } from './dom.js';
import { banNotice } from './restriction.js';

export function connectionBanner(client: BulwarkClient, onClosed: (code: number, reason: string) => void): HTMLElement {
  const text = h('span', { class: 'banner__text' });
  const retry = h('button', { type: 'button', class: 'banner__action', hidden: true }, 'Retry now');
  const banner = h('div', { role: 'status', class: 'banner banner--hidden', 'data-state': 'connecting' }, text, retry);
  let countdown: ReturnType<typeof setInterval> | undefined;
  let hideTimer: ReturnType<typeof setTimeout> | undefined;

  const show = (state: string, message: string, withRetry = false): void => {
    if (hideTimer) clearTimeout(hideTimer);
    if (countdown) clearInterval(countdown);
    countdown = undefined;
    banner.dataset.state = state;
    banner.classList.remove('banner--hidden');
    text.textContent = message;
    retry.hidden = !withRetry;
  };

  retry.addEventListener('click', () => client.connect());

  // A ban is not a lost connection: say until when, and offer no retry before then.
  const showBan = (until: number): void => show('banned', banNotice(until));
  client.on('banned', ({ until }) => showBan(until));

  client.on('state', (change) => {
    switch (change.state) {
      case 'connecting':
        if (banner.dataset.state !== 'reconnecting' && banner.dataset.state !== 'offline' && banner.dataset.state !== 'banned') show('connecting', 'Connecting…');
        return;
      case 'open':
        if (change.resumed) {
          show('open', 'Reconnected.');
          hideTimer = setTimeout(() => banner.classList.add('banner--hidden'), 2500);
        } else {
          banner.dataset.state = 'open';
          banner.classList.add('banner--hidden');
          text.textContent = '';
        }
        return;
      case 'reconnecting': {
        const bannedUntil = client.bannedUntil;
        if (bannedUntil !== undefined) return showBan(bannedUntil);
        const due = Date.now() + change.inMs;
        const tick = (): void => {
          const s = Math.ceil((due - Date.now()) / 1000);
          text.textContent = s > 0 ? `Connection lost. Reconnecting in ${s} s…` : 'Connection lost. Reconnecting…';
        };
        show('reconnecting', '');
        tick();
        countdown = setInterval(tick, 250);
        return;
      }
      case 'closed':
        show('offline', `Disconnected (${change.code}${change.reason ? `: ${change.reason}` : ''}).`, change.code !== CLOSE.NORMAL);
        onClosed(change.code, change.reason);
        return;
    }
  });
  return banner;
}
