/**
 * A tiny element builder. Text always goes in through text nodes; the only way markup reaches
 * the page is `render.ts`, through DOMPurify. There is no `innerHTML` anywhere in the app.
 */

type Attrs = Record<string, string | boolean | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : value);
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** A labelled form field: `<label>Text <input></label>`, so `getByLabel('Text')` finds it. */
export function field(label: string, input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, className = 'field'): HTMLLabelElement {
  return h('label', { class: className }, h('span', { class: 'field__label' }, label), input);
}

export function formatTime(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}
