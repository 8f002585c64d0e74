import type { Thresholds as ThresholdsShape } from '../decisions/outcome.js';
import { builder } from './builder.js';

export const Thresholds = builder.objectRef<ThresholdsShape>('Thresholds').implement({
  fields: (t) => ({
    approve: t.exposeFloat('approve', { description: 'Probability of default below this → APPROVE' }),
    decline: t.exposeFloat('decline', { description: 'Probability of default at or above this → DECLINE' }),
  }),
});
