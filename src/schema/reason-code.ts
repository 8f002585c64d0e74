import { builder } from './builder.js';

export const ReasonCode = builder.objectRef<{ code: string; description: string }>('ReasonCode').implement({
  description: 'An adverse-action reason code of the table in force',
  fields: (t) => ({
    code: t.exposeString('code'),
    description: t.exposeString('description'),
  }),
});
