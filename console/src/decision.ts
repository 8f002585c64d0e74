import { RequestFailed } from './client.js';
import { definitions, h, type Child } from './dom.js';
import { amount, outcomeBadge, percent, time, words } from './format.js';
import type { DecisionDetailQuery, ReviewOutcome } from './gql/graphql.js';

export type Decision = NonNullable<DecisionDetailQuery['decision']>;
type Application = NonNullable<Decision['application']>;
type Review = NonNullable<Decision['review']>;
export type ReasonCode = DecisionDetailQuery['reasonCodes'][number];

/** What a DECLINE review must cite, and how long a note may be (the service checks the same). */
export const MIN_DECLINE_CODES = 1;
export const MAX_DECLINE_CODES = 4;
export const MAX_NOTE_LENGTH = 2000;

/** The application's fields in reading order, with their labels and how to show them. */
const APPLICATION_FIELDS: { [F in keyof Application]: [label: string, show: (value: Application[F]) => string] } = {
  loanAmount: ['Loan amount', amount],
  loanTermMonths: ['Term', (n) => `${n} months`],
  loanPurpose: ['Purpose', words],
  annualIncome: ['Annual income', amount],
  monthlyDebt: ['Monthly debt', amount],
  creditScore: ['Credit score', String],
  employmentYears: ['Employment', (n) => `${amount(n)} years`],
  homeOwnership: ['Home ownership', words],
  openCreditLines: ['Open credit lines', String],
  delinquencies2y: ['Delinquencies (2 years)', String],
  revolvingUtilization: ['Revolving utilization', percent],
};

function applicationFacts(application: Application): HTMLDListElement {
  const entries = (Object.keys(APPLICATION_FIELDS) as (keyof Application)[]).map((field): [string, Child] => {
    const [label, show] = APPLICATION_FIELDS[field] as [string, (value: unknown) => string];
    return [label, show(application[field])];
  });
  return definitions(entries);
}

function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'part' }, h('h3', {}, title), ...children);
}

function reviewFacts(review: Review): HTMLDListElement {
  return definitions([
    ['Review', outcomeBadge(review.outcome)],
    ['Reason codes', review.reasonCodes.length > 0 ? review.reasonCodes.join(', ') : 'none'],
    ['Note', review.note ?? 'none'],
    ['Reviewer', review.reviewer],
    ['Reviewed at', time(review.reviewedAt)],
  ]);
}

/** What the reviewer submits. */
export interface ReviewInput {
  outcome: ReviewOutcome;
  reasonCodes: string[];
  note: string;
}

export interface ReviewFormOptions {
  decision: Decision;
  reasonCodes: ReasonCode[];
  /** sends the review; a RequestFailed is shown in the form by its codes */
  submit: (input: ReviewInput) => Promise<void>;
}

/** A short hint for the codes a reviewer can act on; the service's own message follows it. */
const HINTS: Record<string, string> = {
  ALREADY_REVIEWED: 'Someone has reviewed this decision already.',
  NOT_REVIEWABLE: 'Only a REFER decision can be reviewed.',
  FORBIDDEN: 'This key is not a reviewer key.',
  UNAUTHENTICATED: 'Paste a valid reviewer key above.',
  NOT_FOUND: 'This decision cannot be found with this key.',
};

/** One line per error: the code, a hint when there is one, and the service's message. */
export function errorLines(error: RequestFailed): HTMLElement[] {
  return error.errors.map((e) => h('p', {}, h('strong', { class: 'code' }, e.code), ' ', HINTS[e.code] ?? '', ' ', h('span', { class: 'message' }, e.message)));
}

function reviewForm({ decision, reasonCodes, submit }: ReviewFormOptions): HTMLFormElement {
  // the codes this decision cites are shown; the rest of the table folds away, as a decline usually repeats them
  const cited = new Set(decision.reasons.map((r) => r.code));
  const outcomeRadio = (value: ReviewOutcome, label: string) =>
    h('label', { class: 'choice' }, h('input', { type: 'radio', name: 'outcome', value, required: true }), ` ${label}`);
  const checkboxes: HTMLInputElement[] = [];
  const codeList = (list: ReasonCode[]) =>
    h(
      'ul',
      {},
      ...list.map((c) => {
        const box = h('input', { type: 'checkbox', name: 'reasonCode', value: c.code, id: `code-${c.code}`, 'aria-describedby': `code-${c.code}-text` });
        checkboxes.push(box);
        return h(
          'li',
          {},
          h('label', { for: box.id }, box, h('span', { class: 'code' }, c.code), h('span', { class: 'help', id: `code-${c.code}-text` }, c.description)),
        );
      }),
    );
  // in the decision's own order: the strongest reason first
  const citedCodes = [...cited].flatMap((code) => reasonCodes.filter((c) => c.code === code));
  const otherCodes = reasonCodes.filter((c) => !cited.has(c.code));
  const codeCount = h('span', { class: 'count', id: 'code-count' });
  const codes = h(
    'fieldset',
    { class: 'codes', 'aria-describedby': 'code-count' },
    h('legend', {}, 'Reason codes ', h('span', { class: 'help' }, `(${MIN_DECLINE_CODES} to ${MAX_DECLINE_CODES}, to decline)`)),
    citedCodes.length > 0 && h('p', { class: 'help' }, 'Cited by this decision:'),
    citedCodes.length > 0 && codeList(citedCodes),
    otherCodes.length > 0 && h('details', {}, h('summary', {}, `Other reason codes (${otherCodes.length})`), codeList(otherCodes)),
    codeCount,
  );
  const note = h('textarea', { id: 'note', name: 'note', rows: 4, maxlength: MAX_NOTE_LENGTH, 'aria-describedby': 'note-count' });
  const noteCount = h('span', { class: 'count', id: 'note-count' });
  const problem = h('div', { class: 'error', role: 'alert' });
  const send = h('button', { type: 'submit' }, 'Submit review');
  const form = h(
    'form',
    { class: 'review-form', novalidate: true, 'aria-labelledby': 'review-heading' },
    h('h3', { id: 'review-heading' }, 'Your review'),
    h('fieldset', { class: 'outcome' }, h('legend', {}, 'Decision'), outcomeRadio('APPROVE', 'Approve'), outcomeRadio('DECLINE', 'Decline')),
    codes,
    h('label', { for: 'note' }, 'Note ', h('span', { class: 'help' }, '(optional)')),
    note,
    noteCount,
    problem,
    send,
  );

  const chosenOutcome = () => (form.querySelector<HTMLInputElement>('input[name=outcome]:checked')?.value ?? null) as ReviewOutcome | null;
  const chosenCodes = () => checkboxes.filter((c) => c.checked).map((c) => c.value);
  const update = () => {
    const approving = chosenOutcome() === 'APPROVE';
    // an approval cites no codes; at four, the other boxes rest until one is unticked
    codes.disabled = approving;
    const full = chosenCodes().length >= MAX_DECLINE_CODES;
    for (const box of checkboxes) box.disabled = full && !box.checked;
    codeCount.textContent = approving ? 'An approval cites no reason codes.' : `${chosenCodes().length} of at most ${MAX_DECLINE_CODES} chosen`;
    noteCount.textContent = `${note.value.length.toLocaleString()} / ${MAX_NOTE_LENGTH.toLocaleString()} characters`;
  };
  form.addEventListener('change', update);
  note.addEventListener('input', update);
  update();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const outcome = chosenOutcome();
    const reasonCodes = outcome === 'DECLINE' ? chosenCodes() : [];
    const refuse = (message: string, focus: HTMLElement) => {
      problem.replaceChildren(h('p', {}, message));
      focus.focus();
    };
    if (outcome === null) return refuse('Choose Approve or Decline.', form.querySelector<HTMLInputElement>('input[name=outcome]')!);
    if (outcome === 'DECLINE' && (reasonCodes.length < MIN_DECLINE_CODES || reasonCodes.length > MAX_DECLINE_CODES)) {
      return refuse(`A decline cites ${MIN_DECLINE_CODES} to ${MAX_DECLINE_CODES} reason codes.`, checkboxes.find((c) => !c.disabled) ?? checkboxes[0]);
    }
    problem.replaceChildren();
    send.disabled = true;
    send.textContent = 'Submitting…';
    try {
      await submit({ outcome, reasonCodes, note: note.value.trim() });
    } catch (error) {
      problem.replaceChildren(...(error instanceof RequestFailed ? errorLines(error) : [h('p', {}, String(error))]));
      send.disabled = false;
      send.textContent = 'Submit review';
      problem.focus();
    }
  });
  problem.tabIndex = -1;
  return form;
}

/** The whole decision: summary, reasons, policy hits, the application, and its review or the form to make one. */
export function renderDecision(decision: Decision, options: Omit<ReviewFormOptions, 'decision'>): Node[] {
  const summary = definitions([
    ['Model outcome', outcomeBadge(decision.outcome)],
    ['Final outcome', outcomeBadge(decision.finalOutcome)],
    ['Probability of default', percent(decision.probabilityOfDefault)],
    ['Score', `${decision.score} (300–850, higher is safer)`],
    ['Decided at', time(decision.decidedAt)],
    ['Application reference', decision.applicationRef ?? 'none'],
    ['Decision id', h('span', { class: 'id' }, decision.id)],
    ['Model', decision.modelVersion],
    ['Policy', decision.policyVersion],
  ]);
  const reasons =
    decision.reasons.length > 0
      ? h(
          'ol',
          { class: 'reasons' },
          ...decision.reasons.map((r) =>
            h(
              'li',
              {},
              h('span', { class: 'code' }, r.code),
              ' ',
              r.description,
              h('span', { class: 'help' }, r.source === 'POLICY' ? ` (rule ${r.ruleId ?? '?'})` : ` (${r.feature}, +${percent(r.impact)} risk)`),
            ),
          ),
        )
      : h('p', {}, 'None.');
  const hits =
    decision.policyHits.length > 0
      ? h('ul', { class: 'hits' }, ...decision.policyHits.map((p) => h('li', {}, h('span', { class: 'code' }, p.ruleId), ` ${words(p.effect)}: ${p.description}`)))
      : h('p', {}, 'No policy rule was hit.');
  const facts = [
    section('Reasons', reasons),
    section('Policy hits', hits),
    section('Application', decision.application ? applicationFacts(decision.application) : h('p', {}, 'Not recorded.')),
  ];
  // a review made is read first; the form to make one comes after what the reviewer has to read
  if (decision.review) return [summary, section('Review', reviewFacts(decision.review)), ...facts];
  const review =
    decision.outcome === 'REFER'
      ? reviewForm({ decision, ...options })
      : section('Review', h('p', {}, `Only REFER decisions are reviewed; the model ${words(decision.outcome).toLowerCase()}d this one.`));
  return [summary, ...facts, review];
}
