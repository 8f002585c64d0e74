import type { ReasonCodes } from './policy.js';
import type { FieldError } from './rules.js';

/** What a person decided about a REFER. */
export type ReviewOutcome = 'APPROVE' | 'DECLINE';

/** A person's review of a REFER: recorded once, beside the model's decision, which is never edited. */
export interface Review {
  outcome: ReviewOutcome;
  /** the adverse-action reason codes cited (1–4 for a DECLINE), from the reason-code table */
  reasonCodes: string[];
  note: string | null;
  /** the reviewer key's id */
  reviewer: string;
  reviewedAt: Date;
}

export interface ReviewRequest {
  outcome: ReviewOutcome;
  reasonCodes?: readonly string[] | null;
  note?: string | null;
}

export const MAX_REVIEW_REASONS = 4;
export const MAX_NOTE_LENGTH = 2_000;

/** Control characters other than tab and line breaks, which a note may hold. */
const NOTE_CONTROL_CHARACTERS = /[^\P{Cc}\t\n\r]/u;

/** The review's rules: a DECLINE cites 1–4 codes of the table; codes are known and distinct; a note is bounded. */
export function reviewErrors(request: ReviewRequest, reasonCodes: ReasonCodes): FieldError[] {
  const errors: FieldError[] = [];
  const codes = request.reasonCodes ?? [];
  if (request.outcome === 'DECLINE' && codes.length === 0) {
    errors.push({ field: 'reasonCodes', code: 'REQUIRED', message: 'a DECLINE cites 1 to 4 reason codes' });
  }
  if (codes.length > MAX_REVIEW_REASONS) {
    errors.push({ field: 'reasonCodes', code: 'TOO_MANY', message: `at most ${MAX_REVIEW_REASONS} reason codes` });
  }
  const unknown = codes.filter((c) => !Object.hasOwn(reasonCodes.codes, c));
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 4).map((c) => JSON.stringify(c.slice(0, 40)));
    errors.push({ field: 'reasonCodes', code: 'UNKNOWN_CODE', message: `not in the reason-code table: ${shown.join(', ')}` });
  }
  if (new Set(codes).size !== codes.length) {
    errors.push({ field: 'reasonCodes', code: 'DUPLICATE', message: 'each reason code at most once' });
  }
  const note = request.note ?? null;
  if (note !== null && note.length > MAX_NOTE_LENGTH) {
    errors.push({ field: 'note', code: 'TOO_LONG', message: `at most ${MAX_NOTE_LENGTH} characters` });
  }
  if (note !== null && NOTE_CONTROL_CHARACTERS.test(note)) {
    errors.push({ field: 'note', code: 'CONTROL_CHARACTER', message: 'no control characters but tab and line breaks' });
  }
  return errors;
}

/** A review the service does not record; `code` is the client's stable extensions.code. */
export class ReviewRefusedError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'NOT_REVIEWABLE' | 'ALREADY_REVIEWED' | 'BAD_USER_INPUT',
    message: string,
    readonly fieldErrors: FieldError[] = [],
  ) {
    super(message);
  }
}
