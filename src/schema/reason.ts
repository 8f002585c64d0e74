import type { Reason as ReasonShape } from '../decisions/decision.js';
import { builder } from './builder.js';

export const ReasonSource = builder.enumType('ReasonSource', {
  values: {
    POLICY: { description: 'A policy rule the application hit' },
    MODEL: { description: 'An application field (or a derived ratio) that raised the risk, as explained by the served model' },
  } as const,
});

export const Reason = builder.objectRef<ReasonShape>('Reason').implement({
  description: "An adverse-action reason: a rule hit, or an application field that raised the risk (a categorical field by the applicant's own category)",
  fields: (t) => ({
    code: t.exposeString('code', { description: 'Stable reason code (policy/reason-codes.json)' }),
    description: t.exposeString('description'),
    source: t.expose('source', { type: ReasonSource }),
    feature: t.exposeString('feature', {
      description:
        'The application field or derived ratio (MODEL: e.g. creditScore, debtToIncome, homeOwnership), or the variable the rule tested (POLICY)',
    }),
    impact: t.exposeFloat('impact', {
      description:
        'How much this field raised the probability of default against its reference (all its columns at once; for a rule, the field behind its variable, 0 when the model does not score it)',
    }),
    ruleId: t.exposeString('ruleId', { nullable: true, description: 'The rule, for a POLICY reason' }),
  }),
});
