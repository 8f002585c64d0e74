import type { FieldError as FieldErrorShape } from '../decisions/rules.js';
import { builder } from './builder.js';

export const FieldError = builder.objectRef<FieldErrorShape>('FieldError').implement({
  fields: (t) => ({
    field: t.exposeString('field'),
    code: t.exposeString('code', { description: 'OUT_OF_RANGE, NOT_INTEGER, NOT_FINITE, TOO_LONG, REQUIRED, …' }),
    message: t.exposeString('message'),
  }),
});
