/**
 * The review console: a loan officer's page for the REFER queue. Served by the service at /console and bundled at
 * build time (scripts/build-console.ts); it talks only to this service's /graphql, with the reviewer key.
 */
import { request, RequestFailed } from './client.js';
import { renderDecision, errorLines, type ReviewInput } from './decision.js';
import { byId, h } from './dom.js';
import { words } from './format.js';
import { storedKey, storeKey } from './key.js';
import { DecisionDetail, PendingQueue, ReviewDecision } from './queries.js';
import { decisionIdOf, PAGE_SIZE, renderQueue } from './queue.js';

const page = {
  keyForm: byId('key-form', HTMLFormElement),
  key: byId('key', HTMLInputElement),
  forgetKey: byId('forget-key', HTMLButtonElement),
  status: byId('status', HTMLParagraphElement),
  queueHeading: byId('queue-heading', HTMLHeadingElement),
  queueError: byId('queue-error', HTMLDivElement),
  queueList: byId('queue-list', HTMLOListElement),
  previous: byId('previous-page', HTMLButtonElement),
  next: byId('next-page', HTMLButtonElement),
  pageLabel: byId('page-label', HTMLSpanElement),
  detailHeading: byId('detail-heading', HTMLHeadingElement),
  detailError: byId('detail-error', HTMLDivElement),
  detailBody: byId('detail-body', HTMLDivElement),
};

const state = {
  key: storedKey(),
  /** the `after` cursor of every page up to the one shown (null: the first) */
  cursors: [null] as (string | null)[],
  /** the next page's cursor, when there is one */
  nextCursor: null as string | null,
  openId: null as string | null,
};

function showError(target: HTMLElement, error: unknown): void {
  target.replaceChildren(...(error instanceof RequestFailed ? errorLines(error) : [h('p', {}, String(error))]));
}

function announce(message: string, focus = false): void {
  page.status.textContent = message;
  if (focus) page.status.focus();
}

async function loadQueue(): Promise<void> {
  page.queueError.replaceChildren();
  if (!state.key) {
    page.queueList.replaceChildren(h('li', { class: 'empty' }, 'Paste a reviewer key above to see the queue.'));
    page.previous.disabled = page.next.disabled = true;
    page.pageLabel.textContent = '';
    return;
  }
  page.queueList.setAttribute('aria-busy', 'true');
  try {
    const after = state.cursors[state.cursors.length - 1];
    const { decisions } = await request(PendingQueue, { first: PAGE_SIZE, after }, state.key);
    // a page emptied by reviews: step back to the one before it
    if (decisions.edges.length === 0 && state.cursors.length > 1) {
      state.cursors.pop();
      return await loadQueue();
    }
    renderQueue(page.queueList, decisions, state.openId);
    state.nextCursor = decisions.pageInfo.hasNextPage ? decisions.pageInfo.endCursor : null;
    page.previous.disabled = state.cursors.length === 1;
    page.next.disabled = state.nextCursor === null;
    page.pageLabel.textContent = `Page ${state.cursors.length} · ${decisions.edges.length} shown`;
  } catch (error) {
    // nothing of an earlier key's or page's answer stays on screen beside the error
    page.queueList.replaceChildren();
    page.previous.disabled = page.next.disabled = true;
    showError(page.queueError, error);
  } finally {
    page.queueList.removeAttribute('aria-busy');
  }
}

async function openDecision(id: string | null, focus: boolean): Promise<void> {
  state.openId = id;
  for (const link of page.queueList.querySelectorAll('a')) {
    if (link.closest('li')?.dataset.id === id) link.setAttribute('aria-current', 'true');
    else link.removeAttribute('aria-current');
  }
  page.detailError.replaceChildren();
  if (id === null || !state.key) {
    page.detailHeading.textContent = 'Decision';
    page.detailBody.replaceChildren(h('p', { class: 'help' }, 'Open a decision from the queue.'));
    return;
  }
  page.detailBody.setAttribute('aria-busy', 'true');
  try {
    const { decision, reasonCodes } = await request(DecisionDetail, { id }, state.key);
    if (!decision) {
      page.detailHeading.textContent = 'Decision not found';
      page.detailBody.replaceChildren(h('p', {}, 'No decision with this id is within this key’s reach.'));
    } else {
      page.detailHeading.textContent = `Decision ${decision.applicationRef ?? decision.id}`;
      page.detailBody.replaceChildren(...renderDecision(decision, { reasonCodes, submit: (input) => review(decision.id, input) }));
    }
  } catch (error) {
    page.detailHeading.textContent = 'Decision';
    page.detailBody.replaceChildren();
    showError(page.detailError, error);
  } finally {
    page.detailBody.removeAttribute('aria-busy');
  }
  if (focus) page.detailHeading.focus();
}

async function review(id: string, input: ReviewInput): Promise<void> {
  const { reviewDecision } = await request(
    ReviewDecision,
    { id, outcome: input.outcome, reasonCodes: input.outcome === 'DECLINE' ? input.reasonCodes : null, note: input.note || null },
    state.key,
  );
  const done = `${words(reviewDecision.review.outcome)}d by ${reviewDecision.review.reviewer}: the decision has left the queue.`;
  await Promise.all([loadQueue(), openDecision(id, false)]);
  announce(done, true);
}

function route(focus: boolean): Promise<void> {
  return openDecision(decisionIdOf(location.hash), focus);
}

page.keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = page.key.value.trim();
  if (!key) {
    announce('Paste a reviewer key first.');
    page.key.focus();
    return;
  }
  state.key = key;
  storeKey(key);
  state.cursors = [null];
  announce('Key in use for this tab.');
  void loadQueue().then(() => route(false));
});

page.forgetKey.addEventListener('click', () => {
  state.key = null;
  storeKey(null);
  page.key.value = '';
  state.cursors = [null];
  announce('Key forgotten.');
  void loadQueue().then(() => route(false));
  page.key.focus();
});

page.previous.addEventListener('click', () => {
  if (state.cursors.length > 1) state.cursors.pop();
  void loadQueue().then(() => page.queueHeading.focus());
});

page.next.addEventListener('click', () => {
  if (state.nextCursor === null) return;
  state.cursors.push(state.nextCursor);
  void loadQueue().then(() => page.queueHeading.focus());
});

window.addEventListener('hashchange', () => void route(true));

if (state.key) page.key.value = state.key;
void loadQueue().then(() => route(false));
if (!state.key) page.key.focus();
