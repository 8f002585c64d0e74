import type { Config } from '../config.js';
import { thresholdsFor } from '../decisions/decision.js';
import { FEATURES_BY_NAME } from '../model/features.js';
import type { ScoringModel } from '../model/scoring-model.js';
import { builder } from './builder.js';
import { ChallengerInfo } from './challenger-info.js';
import { DateTime } from './date-time.js';
import { ModelMonitoring, monitoringOf, type ModelMonitoringShape } from './model-monitoring.js';
import { Thresholds } from './thresholds.js';

export interface ModelInfoShape {
  name: string;
  version: string;
  sha256: string;
  createdAt: Date;
  trainingData: { synthetic: boolean; description: string };
  features: { name: string; description: string; reference: number }[];
  thresholds: { approve: number; decline: number };
  metrics: {
    auc?: number;
    ks?: number;
    brier?: number;
    oracleAuc?: number;
    trainRows?: number;
    testRows?: number;
  };
  runtime: { onnxruntimeVersion: string; intraOpNumThreads: number };
  batching: { maxBatchSize: number; windowMs: number };
  monitoring: ModelMonitoringShape;
}

// The types below exist only as parts of ModelInfo, so they live beside it.

const TrainingData = builder.objectRef<ModelInfoShape['trainingData']>('TrainingData').implement({
  fields: (t) => ({
    synthetic: t.exposeBoolean('synthetic', { description: 'True when the model was trained on generated data' }),
    description: t.exposeString('description'),
  }),
});

const ModelFeature = builder.objectRef<ModelInfoShape['features'][number]>('ModelFeature').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    reference: t.exposeFloat('reference', { description: 'The value explanations compare against' }),
  }),
});

const ModelMetrics = builder.objectRef<ModelInfoShape['metrics']>('ModelMetrics').implement({
  description: 'Held-out metrics recorded at training time',
  fields: (t) => ({
    auc: t.exposeFloat('auc', { nullable: true }),
    ks: t.exposeFloat('ks', { nullable: true }),
    brier: t.exposeFloat('brier', { nullable: true }),
    oracleAuc: t.exposeFloat('oracleAuc', {
      nullable: true,
      description: 'Best achievable AUC, known only for synthetic data',
    }),
    trainingRows: t.exposeInt('trainRows', { nullable: true }),
    testRows: t.exposeInt('testRows', { nullable: true }),
  }),
});

const RuntimeInfo = builder.objectRef<ModelInfoShape['runtime']>('RuntimeInfo').implement({
  fields: (t) => ({
    onnxruntimeVersion: t.exposeString('onnxruntimeVersion'),
    intraOpNumThreads: t.exposeInt('intraOpNumThreads'),
  }),
});

const BatchingInfo = builder.objectRef<ModelInfoShape['batching']>('BatchingInfo').implement({
  fields: (t) => ({
    maxBatchSize: t.exposeInt('maxBatchSize'),
    windowMs: t.exposeFloat('windowMs', { description: '0 means the next tick of the event loop' }),
  }),
});

export const ModelInfo = builder.objectRef<ModelInfoShape>('ModelInfo').implement({
  description: 'The model serving decisions on this replica',
  fields: (t) => ({
    name: t.exposeString('name'),
    version: t.exposeString('version'),
    sha256: t.exposeString('sha256', { description: 'SHA-256 of the ONNX file' }),
    createdAt: t.expose('createdAt', { type: DateTime }),
    trainingData: t.expose('trainingData', { type: TrainingData }),
    features: t.expose('features', { type: [ModelFeature] }),
    thresholds: t.expose('thresholds', { type: Thresholds, description: 'In force, after configuration overrides' }),
    metrics: t.expose('metrics', { type: ModelMetrics }),
    runtime: t.expose('runtime', { type: RuntimeInfo }),
    batching: t.expose('batching', { type: BatchingInfo }),
    monitoring: t.expose('monitoring', { type: ModelMonitoring, description: 'Live drift of the applications this replica scored' }),
    challenger: t.field({
      type: ChallengerInfo,
      nullable: true,
      description: 'The challenger scoring every batch beside this model without deciding anything; null without one',
      resolve: (_info, _args, context) => context.challengerStatus() ?? null,
    }),
  }),
});

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
    monitoring: monitoringOf(model, config),
  };
}
