/**
 * The held-out rows of data/loan-book.csv as `npm run train` splits them, and a check of the reasons decided for
 * them: used by the reasons test and by `npm run bench`. The CSV is gitignored, so the book is regenerated from its
 * committed sidecar (seed, rows) and checked against the sidecar's SHA-256.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APP_ROOT } from '../src/config.js';
import type { Decision } from '../src/decisions/decision.js';
import { HOME_OWNERSHIPS, LOAN_PURPOSES, type LoanApplication } from '../src/model/application.js';
import { formatLoanBookCsv } from './csv.js';
import { generateLoanBook, shuffledIndices, type SyntheticBookMetadata } from './synthetic.js';
import { TRAINING_DEFAULTS } from './train.js';

export function heldOutApplications(): LoanApplication[] {
  const meta = JSON.parse(readFileSync(path.join(APP_ROOT, 'data/loan-book.meta.json'), 'utf8')) as SyntheticBookMetadata;
  const book = generateLoanBook(meta.rows, meta.seed);
  const sha256 = createHash('sha256').update(formatLoanBookCsv(book)).digest('hex');
  if (sha256 !== meta.sha256) throw new Error(`the regenerated loan book's SHA-256 ${sha256} is not the sidecar's ${meta.sha256}`);
  // the trainer's split (training/train.ts): the first testFraction of a seeded shuffle
  const order = shuffledIndices(book.length, TRAINING_DEFAULTS.seed);
  const held = Array.from(order.subarray(0, Math.round(book.length * TRAINING_DEFAULTS.testFraction))).sort((a, b) => a - b);
  return held.map((i) => book[i].application);
}

/** Reason codes that name a category, by field; the table's own codes for each category. */
const CATEGORY_CODES = {
  homeOwnership: new Map(HOME_OWNERSHIPS.map((c) => [`HOME_OWNERSHIP_${c}`, c])),
  loanPurpose: new Map(LOAN_PURPOSES.map((c) => [`LOAN_PURPOSE_${c}`, c])),
};

/** The reasons of a decision that name a category the applicant is not in. */
export function foreignCategories(application: LoanApplication, decision: Decision): string[] {
  return decision.reasons
    .filter((r) =>
      Object.entries(CATEGORY_CODES).some(([field, codes]) => {
        const category = codes.get(r.code);
        return category !== undefined && category !== application[field as keyof typeof CATEGORY_CODES];
      }),
    )
    .map((r) => r.code);
}
