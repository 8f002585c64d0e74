import type { PolicyHitView } from '../decisions/decision.js';
import { POLICY_EFFECTS } from '../decisions/policy.js';
import { builder } from './builder.js';

export const PolicyEffect = builder.enumType('PolicyEffect', { values: POLICY_EFFECTS });

export const PolicyHit = builder.objectRef<PolicyHitView>('PolicyHit').implement({
  description: 'A policy rule the application hit; its effect applies whatever the model says',
  fields: (t) => ({
    ruleId: t.exposeString('ruleId'),
    effect: t.expose('effect', { type: PolicyEffect }),
    description: t.exposeString('description'),
  }),
});
