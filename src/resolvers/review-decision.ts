import { GraphQLError } from 'graphql';
import { ReviewRefusedError } from '../decisions/review.js';
import { builder } from '../schema/builder.js';
import { ReviewOutcome } from '../schema/review-outcome.js';
import { ReviewResult } from '../schema/review-result.js';

builder.mutationField('reviewDecision', (t) =>
  t.field({
    type: ReviewResult,
    description:
      "A loan officer's decision on a REFER, with a reviewer key: recorded once, beside the model's decision (never " +
      'edited). A DECLINE cites 1 to 4 codes of reasonCodes; a note has at most 2,000 characters. Refusals: ' +
      'ALREADY_REVIEWED, NOT_REVIEWABLE (not a REFER), NOT_FOUND, BAD_USER_INPUT.',
    args: {
      id: t.arg.id({ required: true }),
      outcome: t.arg({ type: ReviewOutcome, required: true }),
      reasonCodes: t.arg.stringList({ required: false }),
      note: t.arg.string({ required: false }),
    },
    resolve: async (_root, { id, outcome, reasonCodes, note }, { decisions, reviewer }) => {
      try {
        // the auth plugin lets only a reviewer key through to here
        return await decisions.reviewDecision(String(id), reviewer!.keyId, { outcome, reasonCodes, note });
      } catch (error) {
        if (!(error instanceof ReviewRefusedError)) throw error;
        const field = error.fieldErrors[0]?.field;
        throw new GraphQLError(error.message, {
          extensions: { code: error.code, ...(field ? { field, fieldErrors: error.fieldErrors } : {}) },
        });
      }
    },
  }),
);
