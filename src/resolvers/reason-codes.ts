import { builder } from '../schema/builder.js';
import { ReasonCode } from '../schema/reason-code.js';

builder.queryField('reasonCodes', (t) =>
  t.field({
    type: [ReasonCode],
    description: 'The reason-code table in force: the codes a decision cites and a DECLINE review may cite',
    resolve: (_root, _args, { decisions }) => decisions.reasonCodes,
  }),
);
