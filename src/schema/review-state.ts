import { builder } from './builder.js';

export const ReviewState = builder.enumType('ReviewState', {
  values: {
    PENDING: { description: "A REFER without a review: a loan officer's queue" },
    REVIEWED: { description: 'A decision a person has reviewed' },
  } as const,
});
