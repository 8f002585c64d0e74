import type { Decision as DecisionShape } from '../decisions/decision.js';
import { builder } from './builder.js';
import { DateTime } from './date-time.js';
import { DecisionOutcome } from './decision-outcome.js';
import { LoanApplication } from './loan-application.js';
import { PolicyHit } from './policy-hit.js';
import { Reason } from './reason.js';
import { Review } from './review.js';

export const Decision = builder.objectRef<DecisionShape>('Decision').implement({
  description: 'The decision on one application. A decline is a decision, not an error.',
  fields: (t) => ({
    id: t.exposeID('id'),
    applicationRef: t.exposeString('applicationRef', { nullable: true }),
    outcome: t.expose('outcome', { type: DecisionOutcome }),
    probabilityOfDefault: t.exposeFloat('probabilityOfDefault'),
    score: t.exposeInt('score', { description: '300–850, higher is safer; never increases as the probability of default rises' }),
    reasons: t.expose('reasons', {
      type: [Reason],
      description:
        'At most 4: the rules hit (strictest first), then the features that raised the risk most; never empty unless the outcome is APPROVE',
    }),
    policyHits: t.expose('policyHits', { type: [PolicyHit] }),
    policyVersion: t.exposeString('policyVersion'),
    modelVersion: t.exposeString('modelVersion'),
    decidedAt: t.expose('decidedAt', { type: DateTime }),
    application: t.field({
      type: LoanApplication,
      nullable: true,
      description: 'The application as received',
      resolve: (d) => d.application ?? null,
    }),
    review: t.field({
      type: Review,
      nullable: true,
      description: "A person's review, for a REFER that has one",
      resolve: (d) => d.review ?? null,
    }),
    finalOutcome: t.field({
      type: DecisionOutcome,
      description: "The review's outcome when there is one, else the model's outcome",
      resolve: (d) => d.review?.outcome ?? d.outcome,
    }),
  }),
});
