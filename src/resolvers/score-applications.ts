import { GraphQLError } from 'graphql';
import { IdempotencyKeyReusedError } from '../decisions/decision-service.js';
import type { DecisionResult } from '../decisions/decision.js';
import { builder } from '../schema/builder.js';
import { LoanApplicationInput } from '../schema/loan-application-input.js';
import { ScoreApplicationResult } from '../schema/score-application-result.js';

function refuse(message: string, code: string, extensions: Record<string, unknown> = {}): never {
  throw new GraphQLError(message, { extensions: { code, ...extensions } });
}

builder.mutationField('scoreApplications', (t) =>
  t.field({
    type: [ScoreApplicationResult],
    description:
      'Decides many applications in one request, results in input order; an invalid item fails alone. ' +
      'idempotencyKeys, when given, holds one key (or null) per input. A request asking for more than BULK_MAX_ITEMS ' +
      'applications in all (every field, alias and batched operation) is refused whole with BATCH_TOO_LARGE.',
    args: {
      inputs: t.arg({ type: [LoanApplicationInput], required: true }),
      idempotencyKeys: t.arg.stringList({ required: { list: false, items: false } }),
    },
    resolve: async (_root, { inputs, idempotencyKeys }, { decisions, caller, signal }) => {
      if (idempotencyKeys && idempotencyKeys.length !== inputs.length) {
        refuse(
          `idempotencyKeys has ${idempotencyKeys.length} items; it must have one (or null) per input, ${inputs.length}`,
          'BAD_USER_INPUT',
          { field: 'idempotencyKeys' },
        );
      }
      const results = await decisions.decideBatch(inputs, { idempotencyKeys, caller: caller?.keyId, signal });
      return results.map((result, i): DecisionResult =>
        // One item's reused key must not fail the others: it is reported on that item.
        result instanceof IdempotencyKeyReusedError
          ? { kind: 'invalid', message: result.message, fieldErrors: [{ field: `idempotencyKeys.${i}`, code: result.code, message: result.message }] }
          : result,
      );
    },
  }),
);
