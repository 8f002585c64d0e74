import { builder } from './builder.js';

export const ReviewOutcome = builder.enumType('ReviewOutcome', {
  description: "A person's decision on a REFER",
  values: {
    APPROVE: { description: 'The reviewer approves the application' },
    DECLINE: { description: 'The reviewer declines it, citing 1 to 4 adverse-action reason codes' },
  } as const,
});
