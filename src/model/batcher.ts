import DataLoader from 'dataloader';
import type { LoanApplication } from './application.js';
import { PartialScoringError, type ScoredApplication, type ScoringModel } from './scoring-model.js';

export interface BatcherOptions {
  /** the most applications one `session.run` scores (each brings F counterfactual rows with it). @default 1024 */
  maxBatchSize: number;
  /** how long the first load of a batch waits for others; 0 = the next turn of the event loop (setImmediate). @default 1 */
  windowMs: number;
}

export const DEFAULT_BATCHER_OPTIONS: Readonly<BatcherOptions> = Object.freeze({ maxBatchSize: 1024, windowMs: 1 });

/** Live counters of a scoring batcher; mean batch size = applications / batches. */
export interface BatchStats {
  /** batches dispatched (= `model.score` calls = `session.run` calls made by this batcher) */
  batches: number;
  /** applications in those batches */
  applications: number;
  /** applications that got an error instead of a score */
  failedApplications: number;
  /** size of the most recent batch (0 before the first) */
  lastBatchSize: number;
  /** the largest batch so far */
  largestBatchSize: number;
}

export interface ScoringBatcher {
  loader: DataLoader<LoanApplication, ScoredApplication>;
  /** mutated in place as batches run; read it, don't write it */
  stats: Readonly<BatchStats>;
}

function checkOptions(options: Partial<BatcherOptions>): BatcherOptions {
  const { maxBatchSize, windowMs } = { ...DEFAULT_BATCHER_OPTIONS, ...options };
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`);
  }
  if (!Number.isFinite(windowMs) || windowMs < 0) {
    throw new RangeError(`windowMs must be a finite number ≥ 0, got ${windowMs}`);
  }
  return { maxBatchSize, windowMs };
}

/**
 * The PROCESS-WIDE scoring batcher: create one per process (not per request) so that concurrent requests share
 * batches. Loads made within `windowMs` of a batch's first load are scored together by one `model.score` call,
 * i.e. one `session.run` covering the applications and their explanation rows; DataLoader splits more than
 * `maxBatchSize` keys into several batches. `cache: false`: every load is scored, nothing is remembered across
 * requests.
 *
 * `getModel()` is called once per batch when it is dispatched, so after a hot swap new batches use the new model
 * while in-flight ones finish on the old one (`ScoringModel.release` waits for them).
 *
 * Per the DataLoader contract the results have the keys' length and order: an application that cannot be scored
 * (non-finite encoding, NaN probability) gets its own `ScoringError` while the others get results; if the run as a
 * whole fails (or `getModel()` throws), every key gets that error.
 *
 * Returns `{ loader, stats }`; `stats` is a live counter object for metrics (mean batch size = applications / batches).
 */
export function createScoringBatcher(
  getModel: () => ScoringModel,
  options: Partial<BatcherOptions> = DEFAULT_BATCHER_OPTIONS,
): ScoringBatcher {
  const { maxBatchSize, windowMs } = checkOptions(options);
  const stats: BatchStats = { batches: 0, applications: 0, failedApplications: 0, lastBatchSize: 0, largestBatchSize: 0 };

  const batchLoad = async (keys: readonly LoanApplication[]): Promise<Array<ScoredApplication | Error>> => {
    stats.batches++;
    stats.applications += keys.length;
    stats.lastBatchSize = keys.length;
    if (keys.length > stats.largestBatchSize) stats.largestBatchSize = keys.length;
    try {
      return await getModel().score(keys);
    } catch (error) {
      if (error instanceof PartialScoringError && error.results.length === keys.length) {
        for (const r of error.results) if (r instanceof Error) stats.failedApplications++;
        return [...error.results];
      }
      stats.failedApplications += keys.length;
      const failure = error instanceof Error ? error : new Error(String(error));
      return keys.map(() => failure);
    }
  };

  const batchScheduleFn =
    windowMs > 0 ? (callback: () => void) => void setTimeout(callback, windowMs) : (callback: () => void) => void setImmediate(callback);

  const loader = new DataLoader<LoanApplication, ScoredApplication>(batchLoad, {
    cache: false,
    maxBatchSize,
    batchScheduleFn,
  });
  return { loader, stats };
}

/** `createScoringBatcher(getModel, options).loader`, for callers that don't need the counters. */
export function createScoringLoader(
  getModel: () => ScoringModel,
  options: Partial<BatcherOptions> = DEFAULT_BATCHER_OPTIONS,
): DataLoader<LoanApplication, ScoredApplication> {
  return createScoringBatcher(getModel, options).loader;
}
