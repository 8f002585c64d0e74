import type { InvalidApplication as InvalidApplicationShape } from '../decisions/decision.js';
import { builder } from './builder.js';
import { FieldError } from './field-error.js';

export const InvalidApplication = builder.objectRef<InvalidApplicationShape>('InvalidApplication').implement({
  description: 'The application breaks one or more rules; every broken rule is listed',
  fields: (t) => ({
    message: t.exposeString('message'),
    fieldErrors: t.expose('fieldErrors', { type: [FieldError] }),
  }),
});
