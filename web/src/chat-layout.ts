/**
 * The chat's page structure: top bar, room list and room form, the open room's head, log,
 * typing line, notice and composer. Built once per sign-in; `chat.ts` gives it life.
 */
import { field, h } from './dom.js';
import { notice } from './notice.js';
import { onlineList } from './online-list.js';
import { roomNameField } from './room-name-field.js';
import type { SessionUser } from './session.js';
import { typingIndicator } from './typing.js';

export type ChatLayout = ReturnType<typeof chatLayout>;

/** `banner` is the connection banner, placed under the top bar. */
export function chatLayout(user: SessionUser, banner: HTMLElement) {
  const isAdmin = user.roles.includes('admin');
  const logout = h('button', { type: 'button', class: 'btn btn--quiet' }, 'Log out');
  const roomsToggle = h('button', { type: 'button', class: 'btn btn--quiet rooms-toggle', 'aria-expanded': 'true', 'aria-controls': 'sidebar' }, 'Rooms');
  const header = h(
    'header',
    { class: 'topbar' },
    roomsToggle,
    h('span', { class: 'topbar__brand' }, 'Bulwark'),
    h('span', { class: 'topbar__user' }, user.name),
    isAdmin ? h('a', { href: '/admin', class: 'btn btn--quiet' }, 'Admin') : null,
    logout,
  );
  const announcements = h('section', { class: 'announcements', 'aria-label': 'Announcements' });

  const roomList = h('ul', { class: 'rooms' });
  const roomName = roomNameField();
  const privateBox = h('input', { type: 'checkbox', name: 'private' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Create room');
  const joinBtn = h('button', { type: 'button', class: 'btn' }, 'Join room');
  const roomForm = h(
    'form',
    { class: 'room-form', novalidate: true },
    roomName.element,
    h('label', { class: 'check' }, privateBox, h('span', {}, 'Private room')),
    h('div', { class: 'room-form__actions' }, createBtn, joinBtn),
  );
  const sidebar = h(
    'aside',
    { class: 'sidebar sidebar--open', id: 'sidebar' },
    h('h2', { class: 'sidebar__title' }, 'Rooms'),
    h('nav', { 'aria-label': 'Rooms' }, roomList),
    roomForm,
  );

  const title = h('h2', { class: 'room__title' }, 'Pick or create a room');
  const online = onlineList();
  const typists = typingIndicator();
  const leaveBtn = h('button', { type: 'button', class: 'btn btn--quiet room__leave', hidden: true }, 'Leave room');
  const inviteInput = h('input', { name: 'invite', autocomplete: 'off', autocapitalize: 'none', maxlength: '128' });
  const inviteForm = h(
    'form',
    { class: 'invite', hidden: true },
    field('Invite user', inviteInput, 'field field--inline'),
    h('button', { type: 'submit', class: 'btn' }, 'Invite'),
  );
  const older = h('button', { type: 'button', class: 'btn btn--quiet older', hidden: true }, 'Load older');
  const log = h('div', { role: 'log', 'aria-label': 'Conversation', class: 'log', tabindex: '0' });
  const feedback = notice();
  const replyText = h('span', { class: 'reply-bar__text' });
  const replyCancel = h('button', { type: 'button', class: 'btn btn--quiet' }, 'Cancel reply');
  const replyBar = h('div', { class: 'reply-bar', hidden: true }, replyText, replyCancel);
  const input = h('textarea', { name: 'message', rows: '2', maxlength: '4000', autocomplete: 'off', disabled: true });
  const sendBtn = h('button', { type: 'submit', class: 'btn btn--primary', disabled: true }, 'Send');
  const composer = h('form', { class: 'composer' }, replyBar, h('div', { class: 'composer__row' }, field('Message', input, 'field field--grow'), sendBtn));
  const main = h(
    'main',
    { class: 'room' },
    h('div', { class: 'room__head' }, title, online.element, inviteForm, leaveBtn),
    older,
    log,
    typists.element,
    feedback.element,
    composer,
  );
  const shell = h('div', { class: 'shell' }, header, banner, announcements, h('div', { class: 'layout' }, sidebar, main));
  return {
    shell,
    logout,
    roomsToggle,
    announcements,
    roomList,
    roomName,
    privateBox,
    createBtn,
    joinBtn,
    roomForm,
    sidebar,
    title,
    online,
    typists,
    leaveBtn,
    inviteInput,
    inviteForm,
    older,
    log,
    feedback,
    replyText,
    replyCancel,
    replyBar,
    input,
    sendBtn,
    composer,
  };
}
