import { decide } from '../model/decisioning.js';
import { builder } from '../schema/builder.js';
import { LoanApplicationInput } from '../schema/loan-application-input.js';
import { ScoreApplicationResult } from '../schema/score-application-result.js';

builder.mutationField('scoreApplication', (t) =>
  t.field({
    type: ScoreApplicationResult,
    description: 'Decides one application. Concurrent calls share one model run.',
    args: { input: t.arg({ type: LoanApplicationInput, required: true }) },
    resolve: (_root, { input }, { loader, config }) => decide(input, loader, config.model.thresholds),
  }),
);
