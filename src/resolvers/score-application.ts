import { GraphQLError } from 'graphql';
import { IdempotencyKeyReusedError } from '../decisions/decision-service.js';
import { builder } from '../schema/builder.js';
import { LoanApplicationInput } from '../schema/loan-application-input.js';
import { ScoreApplicationResult } from '../schema/score-application-result.js';

builder.mutationField('scoreApplication', (t) =>
  t.field({
    type: ScoreApplicationResult,
    description:
      'Decides one application. Concurrent calls share one model run. With an idempotencyKey, a retry of the same ' +
      'application returns the decision already made; the key with a different application fails with IDEMPOTENCY_KEY_REUSED.',
    args: {
      input: t.arg({ type: LoanApplicationInput, required: true }),
      idempotencyKey: t.arg.string({ required: false }),
    },
    resolve: async (_root, { input, idempotencyKey }, { decisions, caller, signal }) => {
      try {
        return await decisions.decide(input, { idempotencyKey, caller: caller?.keyId, signal });
      } catch (error) {
        if (error instanceof IdempotencyKeyReusedError) {
          throw new GraphQLError(error.message, { extensions: { code: error.code, field: 'idempotencyKey' } });
        }
        throw error;
      }
    },
  }),
);
