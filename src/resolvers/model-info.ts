import { builder } from '../schema/builder.js';
import { ModelInfo, modelInfoOf, type ModelInfoShape } from '../schema/model-info.js';

builder.queryField('modelInfo', (t) =>
  t.field({
    type: ModelInfo,
    resolve: (_root, _args, { currentModel, config }): ModelInfoShape => modelInfoOf(currentModel(), config),
  }),
);
