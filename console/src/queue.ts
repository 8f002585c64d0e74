import { h } from './dom.js';
import { percent, time } from './format.js';
import type { PendingQueueQuery } from './gql/graphql.js';

/** How many decisions one page of the queue shows. */
export const PAGE_SIZE = 20;

type QueueNode = PendingQueueQuery['decisions']['edges'][number]['node'];

/** The hash a decision opens at: `#/decision/<id>`, so the browser's back button returns to the queue. */
export const decisionHash = (id: string): string => `#/decision/${encodeURIComponent(id)}`;

/** The id in a `#/decision/<id>` hash, or null. */
export function decisionIdOf(hash: string): string | null {
  const match = /^#\/decision\/(.+)$/.exec(hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

function item(node: QueueNode, openId: string | null): HTMLLIElement {
  const topReason = node.reasons[0]?.code;
  return h(
    'li',
    { 'data-id': node.id },
    h(
      'a',
      { href: decisionHash(node.id), 'aria-current': node.id === openId ? 'true' : undefined },
      h('span', { class: 'ref' }, node.applicationRef ?? 'no reference'),
      h('span', { class: 'meta' }, `${percent(node.probabilityOfDefault)} default · score ${node.score}`, topReason ? ` · ${topReason}` : ''),
      h('span', { class: 'meta' }, time(node.decidedAt)),
      h('span', { class: 'id' }, node.id),
    ),
  );
}

/** Fills the queue list with one page; an empty page says so. */
export function renderQueue(list: HTMLOListElement, page: PendingQueueQuery['decisions'], openId: string | null): void {
  const nodes = page.edges.map((e) => e.node);
  list.replaceChildren(...(nodes.length > 0 ? nodes.map((n) => item(n, openId)) : [h('li', { class: 'empty' }, 'No decision is waiting for review.')]));
}
