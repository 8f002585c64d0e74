import type { Config } from '../config.js';
import { FEATURES_BY_NAME } from '../model/features.js';
import { thresholdsFor } from '../model/decisioning.js';
import type { ScoringModel } from '../model/scoring-model.js';
import { builder } from '../schema/builder.js';
import { ModelInfo, type ModelInfoShape } from '../schema/model-info.js';

/** What `ModelInfo` shows of a model (also the answer of reloadModel). */
export function modelInfoOf(model: ScoringModel, config: Config): ModelInfoShape {
  const { manifest } = model;
  return {
    name: manifest.name,
    version: manifest.version,
    sha256: model.sha256,
    createdAt: new Date(manifest.createdAt),
    trainingData: manifest.data,
    features: manifest.features.map((f) => ({
      name: f.name,
      description: f.description ?? FEATURES_BY_NAME.get(f.name)!.description,
      reference: f.reference,
    })),
    thresholds: thresholdsFor(model, config.model.thresholds),
    metrics: manifest.metrics,
    runtime: { onnxruntimeVersion: model.onnxruntimeVersion, intraOpNumThreads: model.intraOpNumThreads },
    batching: { maxBatchSize: config.batching.maxBatchSize, windowMs: config.batching.windowMs },
  };
}

builder.queryField('modelInfo', (t) =>
  t.field({
    type: ModelInfo,
    resolve: (_root, _args, { currentModel, config }): ModelInfoShape => modelInfoOf(currentModel(), config),
  }),
);
