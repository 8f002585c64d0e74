import DataLoader from 'dataloader';
import type { LoanApplication } from './application.js';
import { PartialScoringError, type ScoredApplication, type ScoringModel } from './scoring-model.js';

export interface BatcherOptions {
  /** the most applications one `session.run` scores (each brings F counterfactual rows with it). @default 1024 */
  maxBatchSize: number;
  /** how long the first load of a batch waits for others; 0 = the next turn of the event loop (setImmediate). @default 1 */
  windowMs: number;
  /**
   * the most applications queued or being scored at once; a `load` beyond it rejects at once with
   * `ServiceOverloadedError` instead of waiting. @default Infinity
   */
  maxPending?: number;
  /** called after every batch (plain callback, so metrics stay outside the model layer) */
  onBatch?: (batch: BatchReport) => void;
}

/** What `onBatch` is told about one finished batch. */
export interface BatchReport {
  /** applications in the batch */
  size: number;
  /** how long its oldest application waited between `load` and the start of the run, ms */
  queueWaitMs: number;
  /** `model.score` duration (encoding, the one `session.run`, decoding), ms */
  inferenceMs: number;
  /** `name-version` of the model that scored it, or undefined when no model could be had */
  modelVersion: string | undefined;
  /** applications of the batch that got an error instead of a score */
  failed: number;
}

/**
 * A `load` refused because `maxPending` applications are already queued or being scored: the caller should fail
 * fast (the API answers 503 SERVICE_OVERLOADED) rather than queue behind them.
 */
export class ServiceOverloadedError extends Error {
  override name = 'ServiceOverloadedError';
  constructor(readonly maxPending: number) {
    super(`The scoring queue is full (${maxPending} applications queued or being scored); retry shortly`);
  }
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
  loader: ScoringLoader;
  /** mutated in place as batches run; read it, don't write it */
  stats: Readonly<BatchStats>;
  /** applications loaded and not yet settled (queued or being scored) */
  pending(): number;
}

function checkOptions(options: Partial<BatcherOptions>): Required<Omit<BatcherOptions, 'onBatch'>> {
  const { maxBatchSize, windowMs, maxPending = Infinity } = { ...DEFAULT_BATCHER_OPTIONS, ...options };
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`);
  }
  if (!Number.isFinite(windowMs) || windowMs < 0) {
    throw new RangeError(`windowMs must be a finite number ≥ 0, got ${windowMs}`);
  }
  if (maxPending !== Infinity && (!Number.isInteger(maxPending) || maxPending < 1)) {
    throw new RangeError(`maxPending must be a positive integer or Infinity, got ${maxPending}`);
  }
  return { maxBatchSize, windowMs, maxPending };
}

/**
 * A DataLoader that admits at most `maxPending` unsettled loads (the rest reject at once), and drops a load whose
 * signal has aborted by the time its batch is dispatched (it rejects with the signal's reason, unscored).
 */
export class ScoringLoader extends DataLoader<LoanApplication, ScoredApplication> {
  #pending = 0;
  readonly #maxPending: number;
  readonly #enqueuedAt: WeakMap<LoanApplication, number>;
  readonly #signals: WeakMap<LoanApplication, AbortSignal>;

  constructor(
    batchLoad: DataLoader.BatchLoadFn<LoanApplication, ScoredApplication>,
    options: DataLoader.Options<LoanApplication, ScoredApplication>,
    maxPending: number,
    enqueuedAt: WeakMap<LoanApplication, number>,
    signals: WeakMap<LoanApplication, AbortSignal>,
  ) {
    super(batchLoad, options);
    this.#maxPending = maxPending;
    this.#enqueuedAt = enqueuedAt;
    this.#signals = signals;
  }

  get pending(): number {
    return this.#pending;
  }

  /** Queues one application for the next model run; with `signal`, it is not scored if the signal aborts first. */
  override load(key: LoanApplication, signal?: AbortSignal): Promise<ScoredApplication> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#pending >= this.#maxPending) return Promise.reject(new ServiceOverloadedError(this.#maxPending));
    this.#pending++;
    this.#enqueuedAt.set(key, performance.now());
    if (signal) this.#signals.set(key, signal);
    const settle = () => {
      this.#pending--;
    };
    const result = super.load(key);
    result.then(settle, settle);
    return result;
  }
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
 * With `maxPending`, at most that many applications are queued or being scored at once: a further `load` rejects at
 * once with `ServiceOverloadedError` (fail fast rather than pile up latency). `onBatch` is told the size, queue
 * wait, inference time and model version of every batch.
 *
 * Returns `{ loader, stats, pending }`; `stats` is a live counter object for metrics (mean batch size =
 * applications / batches), `pending()` the applications queued or being scored now.
 */
export function createScoringBatcher(
  getModel: () => ScoringModel,
  options: Partial<BatcherOptions> = DEFAULT_BATCHER_OPTIONS,
): ScoringBatcher {
  const { maxBatchSize, windowMs, maxPending } = checkOptions(options);
  const { onBatch } = options;
  const stats: BatchStats = { batches: 0, applications: 0, failedApplications: 0, lastBatchSize: 0, largestBatchSize: 0 };
  const enqueuedAt = new WeakMap<LoanApplication, number>();
  const signals = new WeakMap<LoanApplication, AbortSignal>();

  const report = (keys: readonly LoanApplication[], started: number, model: ScoringModel | undefined, failed: number) => {
    if (!onBatch) return;
    let oldest = started;
    for (const key of keys) oldest = Math.min(oldest, enqueuedAt.get(key) ?? started);
    try {
      onBatch({
        size: keys.length,
        queueWaitMs: started - oldest,
        inferenceMs: performance.now() - started,
        modelVersion: model && `${model.manifest.name}-${model.manifest.version}`,
        failed,
      });
    } catch {
      // a metrics callback must never fail a batch
    }
  };

  /** Scores the keys whose request is still waiting; those whose signal aborted get its reason, unscored. */
  const batchLoad = async (keys: readonly LoanApplication[]): Promise<Array<ScoredApplication | Error>> => {
    let dropped: boolean[] | undefined;
    for (let i = 0; i < keys.length; i++) {
      if (signals.get(keys[i])?.aborted) (dropped ??= new Array<boolean>(keys.length).fill(false))[i] = true;
    }
    if (!dropped) return scoreBatch(keys);
    const live = keys.filter((_, i) => !dropped[i]);
    const scored = live.length > 0 ? await scoreBatch(live) : [];
    let next = 0;
    return keys.map((key, i) => (dropped[i] ? toError(signals.get(key)!.reason) : scored[next++]));
  };

  const scoreBatch = async (keys: readonly LoanApplication[]): Promise<Array<ScoredApplication | Error>> => {
    stats.batches++;
    stats.applications += keys.length;
    stats.lastBatchSize = keys.length;
    if (keys.length > stats.largestBatchSize) stats.largestBatchSize = keys.length;
    const started = performance.now();
    let model: ScoringModel | undefined;
    try {
      model = getModel();
      const results = await model.score(keys);
      report(keys, started, model, 0);
      return results;
    } catch (error) {
      if (error instanceof PartialScoringError && error.results.length === keys.length) {
        let failed = 0;
        for (const r of error.results) if (r instanceof Error) failed++;
        stats.failedApplications += failed;
        report(keys, started, model, failed);
        return [...error.results];
      }
      stats.failedApplications += keys.length;
      report(keys, started, model, keys.length);
      const failure = toError(error);
      return keys.map(() => failure);
    }
  };

  const batchScheduleFn =
    windowMs > 0 ? (callback: () => void) => void setTimeout(callback, windowMs) : (callback: () => void) => void setImmediate(callback);

  const loader = new ScoringLoader(batchLoad, { cache: false, maxBatchSize, batchScheduleFn }, maxPending, enqueuedAt, signals);
  return { loader, stats, pending: () => loader.pending };
}

/** `createScoringBatcher(getModel, options).loader`, for callers that don't need the counters. */
export function createScoringLoader(
  getModel: () => ScoringModel,
  options: Partial<BatcherOptions> = DEFAULT_BATCHER_OPTIONS,
): ScoringLoader {
  return createScoringBatcher(getModel, options).loader;
}

const toError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error(String(reason)));
