import { builder } from '../schema/builder.js';
import { Decision } from '../schema/decision.js';

builder.queryField('decision', (t) =>
  t.field({
    type: Decision,
    nullable: true,
    description:
      'A decision made earlier, by any replica, from the audit trail. With partner keys configured, a partner key reads ' +
      "only its own decisions and the admin key all; null when there is none with this id within the caller's reach",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, { decisions, readScope }) => (await decisions.getDecision(String(id), readScope)) ?? null,
  }),
);
