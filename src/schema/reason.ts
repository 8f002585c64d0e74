import type { Reason as ReasonShape } from '../model/decisioning.js';
import { builder } from './builder.js';

export const Reason = builder.objectRef<ReasonShape>('Reason').implement({
  description: 'A factor that raised the risk, as explained by the model that was served',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'Stable reason code' }),
    description: t.exposeString('description'),
    feature: t.exposeString('feature', { description: 'The model feature, by its catalogue name' }),
    impact: t.exposeFloat('impact', {
      description: 'How much this feature raised the probability of default against its reference value',
    }),
  }),
});
