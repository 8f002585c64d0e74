import { builder } from './builder.js';

export const DecisionOutcome = builder.enumType('DecisionOutcome', {
  values: {
    APPROVE: { description: 'Probability of default below the approve threshold' },
    REFER: { description: 'Between the thresholds: a person reviews the application' },
    DECLINE: { description: 'Probability of default at or above the decline threshold' },
  } as const,
});
