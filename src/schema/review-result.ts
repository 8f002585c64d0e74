import type { Decision as DecisionShape } from '../decisions/decision.js';
import type { Review as ReviewShape } from '../decisions/review.js';
import { builder } from './builder.js';
import { Decision } from './decision.js';
import { Review } from './review.js';

export const ReviewResult = builder.objectRef<{ decision: DecisionShape; review: ReviewShape }>('ReviewResult').implement({
  fields: (t) => ({
    decision: t.expose('decision', { type: Decision, description: 'The decision, with its review and final outcome' }),
    review: t.expose('review', { type: Review }),
  }),
});
