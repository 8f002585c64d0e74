import type { Review as ReviewShape } from '../decisions/review.js';
import { builder } from './builder.js';
import { DateTime } from './date-time.js';
import { ReviewOutcome } from './review-outcome.js';

export const Review = builder.objectRef<ReviewShape>('Review').implement({
  description: "A person's review of a REFER, recorded once beside the model's decision, which is never edited",
  fields: (t) => ({
    outcome: t.expose('outcome', { type: ReviewOutcome }),
    reasonCodes: t.exposeStringList('reasonCodes', { description: 'Adverse-action reason codes from the reason-code table' }),
    note: t.exposeString('note', { nullable: true }),
    reviewer: t.exposeString('reviewer', { description: "The reviewer key's id" }),
    reviewedAt: t.expose('reviewedAt', { type: DateTime }),
  }),
});
