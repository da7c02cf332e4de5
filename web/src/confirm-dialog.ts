/**
 * A confirmation asked in the page (a modal `<dialog>`, not `window.confirm`): labelled by its
 * title, described by its text, focus starts on the safe choice, Escape cancels, focus returns to
 * where it was.
 */
import { h } from './dom.js';

export interface ConfirmOptions {
  title: string;
  text: string;
  /** The label of the button that goes ahead. */
  confirm: string;
  /** Style the go-ahead button as destructive. */
  danger?: boolean;
}

let seq = 0;

/** Builds the dialog once (appended to `host`); each call asks one question. */
export function confirmDialog(host: HTMLElement): (options: ConfirmOptions) => Promise<boolean> {
  const n = ++seq;
  const title = h('h2', { class: 'dialog__title', id: `confirm-title-${n}` });
  const text = h('p', { class: 'dialog__text', id: `confirm-text-${n}` });
  const cancel = h('button', { type: 'button', class: 'btn', value: 'cancel' }, 'Cancel');
  const ok = h('button', { type: 'button', class: 'btn btn--primary', value: 'ok' });
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': title.id, 'aria-describedby': text.id }, title, text, h('div', { class: 'dialog__actions' }, cancel, ok));
  host.append(dialog);
  cancel.addEventListener('click', () => dialog.close('cancel'));
  ok.addEventListener('click', () => dialog.close('ok'));

  let answering: Promise<boolean> | undefined;
  return (options) => {
    if (answering) return answering.then(() => false);
    title.textContent = options.title;
    text.textContent = options.text;
    ok.textContent = options.confirm;
    ok.className = options.danger ? 'btn btn--danger' : 'btn btn--primary';
    const returnTo = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
    answering = new Promise<boolean>((resolve) => {
      dialog.returnValue = '';
      dialog.addEventListener(
        'close',
        () => {
          answering = undefined;
          if (returnTo?.isConnected) returnTo.focus();
          resolve(dialog.returnValue === 'ok');
        },
        { once: true },
      );
      dialog.showModal();
      cancel.focus();
    });
    return answering;
  };
}
