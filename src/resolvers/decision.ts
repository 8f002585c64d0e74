import { builder } from '../schema/builder.js';
import { Decision } from '../schema/decision.js';

builder.queryField('decision', (t) =>
  t.field({
    type: Decision,
    nullable: true,
    description: 'A decision made earlier, by any replica, from the audit trail; null when there is none with this id',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, { decisions }) => decisions.getDecision(String(id)) ?? null,
  }),
);
