/** A child of `h`: nodes as they are, text as text nodes (never parsed as HTML), nothing for null, undefined, false. */
export type Child = Node | string | number | null | undefined | false;

type Attributes = Record<string, string | number | boolean | undefined>;

/**
 * Creates an element with attributes and children. Every value the service sends goes in as text or as an attribute
 * value, so an application reference or a note cannot inject markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false).map((c) => (typeof c === 'number' ? String(c) : c)));
  return element;
}

/** The element with this id, of this type; a missing one is a broken page, not a state to handle. */
export function byId<T extends HTMLElement>(id: string, type: abstract new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} is missing from the page`);
  return element;
}

/** A definition list from label/value pairs. */
export function definitions(entries: [string, Child][], className = 'facts'): HTMLDListElement {
  return h('dl', { class: className }, ...entries.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
}
