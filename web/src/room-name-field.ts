/**
 * The room-name field, with the server's rule (`src/protocol/room-name.ts`) shown under it and
 * checked as the person types, so a bad name is explained before anything is sent.
 */
import { ROOM_NAME_CHAR, ROOM_NAME_MAX, ROOM_NAME_PATTERN } from '../../src/protocol/room-name.js';
import { h } from './dom.js';

export const ROOM_NAME_HINT = `1–${ROOM_NAME_MAX} characters: letters A–Z, digits, - and _ (no spaces).`;

/** Why `name` is not a valid room name, or undefined when it is. */
export function roomNameProblem(name: string): string | undefined {
  if (ROOM_NAME_PATTERN.test(name)) return undefined;
  if (name.length === 0) return 'Enter a room name.';
  const chars = Array.from(name);
  if (chars.length > ROOM_NAME_MAX) return `Too long: ${chars.length} characters, at most ${ROOM_NAME_MAX}.`;
  const bad = [...new Set(chars.filter((c) => !ROOM_NAME_CHAR.test(c)))];
  const shown = bad
    .slice(0, 5)
    .map((c) => (c === ' ' ? 'spaces' : `“${c}”`))
    .join(', ');
  return `Not allowed: ${shown}. Use letters A–Z, digits, - and _.`;
}

export interface RoomNameField {
  /** The labelled input with its rule and its problem line. */
  element: HTMLElement;
  input: HTMLInputElement;
  /** The valid name, or undefined after showing why not (and focusing the field). */
  take(): string | undefined;
  clear(): void;
}

export function roomNameField(): RoomNameField {
  const input = h('input', {
    name: 'room',
    id: 'room-name',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
    'aria-describedby': 'room-name-rule room-name-problem',
  });
  const rule = h('span', { class: 'hint', id: 'room-name-rule' }, ROOM_NAME_HINT);
  const problem = h('span', { class: 'field__problem', id: 'room-name-problem', 'aria-live': 'polite' });
  const element = h('div', { class: 'field' }, h('label', { class: 'field__label', for: 'room-name' }, 'Room name'), input, rule, problem);

  const show = (text: string | undefined): void => {
    problem.textContent = text ?? '';
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  // While typing, an empty field is not an error yet; everything else is checked at once.
  input.addEventListener('input', () => show(input.value === '' ? undefined : roomNameProblem(input.value.trim())));

  return {
    element,
    input,
    take() {
      const name = input.value.trim();
      const why = roomNameProblem(name);
      show(why);
      if (why) {
        input.focus();
        return undefined;
      }
      return name;
    },
    clear() {
      input.value = '';
      show(undefined);
    },
  };
}
