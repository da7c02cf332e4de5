/**
 * One message in the log: author, time, "edited", the reply quote, the text (`render.ts`) and the
 * actions the reader may take on it (reply; edit and delete their own; delete as moderator).
 */
import type { Message } from '../../client/index.js';
import { formatTime, h } from './dom.js';
import { editableText, plainText, renderText } from './render.js';

/** A message as the page shows it; `editedAt` arrives with edits (docs/protocol.md `chat.edit`). */
export type ShownMessage = Message & { editedAt?: number };

export interface ReplyTarget {
  id: string;
  author: string;
  excerpt: string;
}

export interface MessageActions {
  /** The signed-in user's id. */
  me: string;
  /** May the reader delete others' messages in this room (owner, admin)? */
  mayModerate(): boolean;
  /** An earlier message of the room, for reply quotes. */
  lookup(id: string): ShownMessage | undefined;
  reply(target: ReplyTarget): void;
  /** Asks, deletes; resolves when done or refused. */
  remove(message: ShownMessage): Promise<void>;
  /** Saves new text; rejects with the refusal. Absent when editing is not available. */
  edit?: ((message: ShownMessage, text: string) => Promise<void>) | undefined;
  /** Tells the reader about a refusal. */
  fail(error: unknown): void;
}

export function messageItem(message: ShownMessage, actions: MessageActions): HTMLLIElement {
  const li = h('li', { class: 'msg', 'data-id': message.id, 'data-seq': String(message.seq) });
  fillMessage(li, message, actions);
  return li;
}

export function fillMessage(li: HTMLLIElement, message: ShownMessage, actions: MessageActions): void {
  if ('deleted' in message) {
    li.className = 'msg msg--deleted';
    li.replaceChildren(h('p', { class: 'msg__body' }, 'Message deleted.'));
    return;
  }
  li.dataset.ts = String(message.ts);
  if ('unavailable' in message) {
    // The server could not decrypt it (docs/protocol.md, "The message object").
    li.className = 'msg msg--deleted';
    li.replaceChildren(h('p', { class: 'msg__body' }, `${message.user.name}: this message cannot be shown.`));
    return;
  }
  const mine = message.user.id === actions.me;
  li.className = mine ? 'msg msg--mine' : 'msg';
  const body = h('div', { class: 'msg__body' });
  body.append(renderText(message.text));
  let quote: HTMLElement | null = null;
  if (message.replyTo) {
    const target = actions.lookup(message.replyTo);
    const excerpt = target && 'text' in target ? `${target.user.name}: ${plainText(target.text).slice(0, 80)}` : 'an earlier message';
    quote = h('p', { class: 'msg__quote' }, `↩ ${excerpt}`);
  }
  const reply = h('button', { type: 'button', class: 'link-btn' }, 'Reply');
  reply.addEventListener('click', () => actions.reply({ id: message.id, author: message.user.name, excerpt: plainText(message.text).slice(0, 60) }));
  const buttons = h('div', { class: 'msg__actions' }, reply);
  const edit = actions.edit;
  if (mine && edit) {
    const button = h('button', { type: 'button', class: 'link-btn' }, 'Edit');
    button.addEventListener('click', () => startEditing(li, body, buttons, message, edit, actions.fail));
    buttons.append(button);
  }
  if (mine || actions.mayModerate()) {
    const del = h('button', { type: 'button', class: 'link-btn link-btn--danger' }, 'Delete');
    del.addEventListener('click', () => {
      del.disabled = true;
      void actions.remove(message).finally(() => (del.disabled = false));
    });
    buttons.append(del);
  }
  const when = new Date(message.ts);
  li.replaceChildren(
    h(
      'div',
      { class: 'msg__meta' },
      h('span', { class: 'msg__author' }, message.user.name),
      h('time', { class: 'msg__time', datetime: when.toISOString(), title: when.toLocaleString() }, formatTime(message.ts)),
      message.editedAt !== undefined ? h('span', { class: 'msg__edited', title: `Edited ${new Date(message.editedAt).toLocaleString()}` }, 'edited') : null,
    ),
    ...(quote ? [quote] : []),
    body,
    buttons,
  );
}

/** Swaps the text for an editor; Enter or Save sends, Escape or Cancel puts the text back. */
function startEditing(
  li: HTMLLIElement,
  body: HTMLElement,
  buttons: HTMLElement,
  message: ShownMessage & { text: string },
  edit: NonNullable<MessageActions['edit']>,
  fail: (error: unknown) => void,
): void {
  if (li.querySelector('.msg__editor')) return;
  const original = editableText(message.text);
  const area = h('textarea', { class: 'msg__edit-text', rows: '2', maxlength: '4000', 'aria-label': 'Edit message' });
  area.value = original;
  const save = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Save');
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  const editor = h('form', { class: 'msg__editor' }, area, h('div', { class: 'msg__editor-actions' }, cancel, save));
  body.hidden = true;
  buttons.hidden = true;
  body.after(editor);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);

  const close = (): void => {
    editor.remove();
    body.hidden = false;
    buttons.hidden = false;
  };
  const submit = (): void => {
    const text = area.value.trim();
    if (!text || text === original.trim()) return close();
    save.disabled = cancel.disabled = area.disabled = true;
    edit(message, text).then(close, (error: unknown) => {
      save.disabled = cancel.disabled = area.disabled = false;
      area.focus();
      fail(error);
    });
  };
  editor.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  cancel.addEventListener('click', close);
  area.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      close();
    } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
}
