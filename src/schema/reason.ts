import type { Reason as ReasonShape } from '../decisions/decision.js';
import { builder } from './builder.js';

export const ReasonSource = builder.enumType('ReasonSource', {
  values: {
    POLICY: { description: 'A policy rule the application hit' },
    MODEL: { description: 'A feature that raised the risk, as explained by the served model' },
  } as const,
});

export const Reason = builder.objectRef<ReasonShape>('Reason').implement({
  description: 'An adverse-action reason: a rule hit or a feature that raised the risk',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'Stable reason code (policy/reason-codes.json)' }),
    description: t.exposeString('description'),
    source: t.expose('source', { type: ReasonSource }),
    feature: t.exposeString('feature', {
      description: 'The model feature (MODEL), or the variable the rule tested (POLICY), by catalogue name',
    }),
    impact: t.exposeFloat('impact', {
      description: 'How much this feature raised the probability of default against its reference value (0 for a rule on a variable the model does not score)',
    }),
    ruleId: t.exposeString('ruleId', { nullable: true, description: 'The rule, for a POLICY reason' }),
  }),
});
