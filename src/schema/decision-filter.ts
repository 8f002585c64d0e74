import { builder } from './builder.js';
import { DateTime } from './date-time.js';
import { DecisionOutcome } from './decision-outcome.js';
import { ReviewState } from './review-state.js';

export const DecisionFilter = builder.inputType('DecisionFilter', {
  description: 'Narrows the decision history; every field optional, all of them must hold',
  fields: (t) => ({
    outcome: t.field({ type: DecisionOutcome, required: false, description: "The model's outcome" }),
    reviewState: t.field({ type: ReviewState, required: false }),
    from: t.field({ type: DateTime, required: false, description: 'Decided at or after' }),
    to: t.field({ type: DateTime, required: false, description: 'Decided before' }),
    applicationRef: t.string({ required: false }),
    modelVersion: t.string({ required: false }),
  }),
});
