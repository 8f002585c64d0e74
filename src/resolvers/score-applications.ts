import { GraphQLError } from 'graphql';
import { decide } from '../model/decisioning.js';
import { builder } from '../schema/builder.js';
import { LoanApplicationInput } from '../schema/loan-application-input.js';
import { ScoreApplicationResult } from '../schema/score-application-result.js';

builder.mutationField('scoreApplications', (t) =>
  t.field({
    type: [ScoreApplicationResult],
    description:
      'Decides many applications in one request, results in input order; an invalid item fails alone. ' +
      'Refused whole with BATCH_TOO_LARGE above the configured cap.',
    args: { inputs: t.arg({ type: [LoanApplicationInput], required: true }) },
    resolve: (_root, { inputs }, { loader, config }) => {
      const cap = config.limits.bulkMaxItems;
      if (inputs.length > cap) {
        throw new GraphQLError(`inputs has ${inputs.length} items; at most ${cap} are accepted in one request`, {
          extensions: { code: 'BATCH_TOO_LARGE', maxItems: cap, field: 'inputs' },
        });
      }
      return Promise.all(inputs.map((input) => decide(input, loader, config.model.thresholds)));
    },
  }),
);
