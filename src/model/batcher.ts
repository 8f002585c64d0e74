import DataLoader from 'dataloader';
import type { LoanApplication } from './application.js';
import { PartialScoringError, type ScoredApplication, type ScoringModel } from './scoring-model.js';
import { scoreChallenger, type ChallengerReport } from './challenger.js';

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
  /**
   * a second model that scores every batch right after the served one, in the same dispatch, read once per batch like
   * `getModel`; its probabilities ride along on the results (`challenger`) and its failures never fail a batch.
   * @default undefined
   */
  getChallenger?: () => ScoringModel | undefined;
  /** called after every batch a challenger scored or failed to score */
  onChallenger?: (report: ChallengerReport) => void;
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

/** Live counters of a scoring batcher; mean batch size = applications / batches (model runs). */
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

function checkOptions(options: Partial<BatcherOptions>): Required<Omit<BatcherOptions, 'onBatch' | 'getChallenger' | 'onChallenger'>> {
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

/** One request's applications: a DataLoader key, concatenated with the other keys of its window into one run. */
interface BatchKey {
  applications: readonly LoanApplication[];
  signal: AbortSignal | undefined;
  enqueuedAt: number;
}

type BatchResult = Array<ScoredApplication | Error>;

/**
 * The scoring queue: a DataLoader whose key is a whole request's applications (one application for a single
 * request, a thousand for a bulk one), so a bulk request costs one promise, not one per application. It admits at
 * most `maxPending` unsettled applications (beyond, a request is refused whole, at once), and leaves unscored a key
 * whose signal has aborted by the time its window is dispatched (it rejects with the signal's reason).
 */
export class ScoringLoader {
  #pending = 0;
  readonly #maxPending: number;
  readonly #loader: DataLoader<BatchKey, BatchResult>;

  constructor(batchLoad: DataLoader.BatchLoadFn<BatchKey, BatchResult>, batchScheduleFn: (callback: () => void) => void, maxPending: number) {
    this.#loader = new DataLoader(batchLoad, { cache: false, batchScheduleFn });
    this.#maxPending = maxPending;
  }

  /** applications queued or being scored now */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Queues a request's applications for the next model run. Resolves with one result per application, in order:
   * its score, or the error that application alone got. Rejects whole when the queue is full
   * (`ServiceOverloadedError`), when `signal` aborts before the run, or when no model run could be made.
   */
  loadBatch(applications: readonly LoanApplication[], signal?: AbortSignal): Promise<BatchResult> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (applications.length === 0) return Promise.resolve([]);
    if (this.#pending + applications.length > this.#maxPending) return Promise.reject(new ServiceOverloadedError(this.#maxPending));
    const n = applications.length;
    this.#pending += n;
    const settle = () => {
      this.#pending -= n;
    };
    const result = this.#loader.load({ applications, signal, enqueuedAt: performance.now() });
    result.then(settle, settle);
    return result;
  }

  /** One application's score; rejects with its error. */
  async load(application: LoanApplication, signal?: AbortSignal): Promise<ScoredApplication> {
    const [result] = await this.loadBatch([application], signal);
    if (result instanceof Error) throw result;
    return result;
  }

  /** Several applications, each settled alone (DataLoader's loadMany), in one key. */
  loadMany(applications: readonly LoanApplication[]): Promise<BatchResult> {
    return this.loadBatch(applications).catch((error: unknown) => applications.map(() => toError(error)));
  }
}

/**
 * The PROCESS-WIDE scoring batcher: create one per process (not per request) so that concurrent requests share
 * batches. Requests loaded within `windowMs` of a window's first are concatenated and scored by one `model.score`
 * call, i.e. one `session.run` covering the applications and their explanation rows; more than `maxBatchSize`
 * applications are scored in runs of at most that many. `cache: false`: every load is scored, nothing is
 * remembered across requests.
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
  const { onBatch, getChallenger, onChallenger } = options;
  const stats: BatchStats = { batches: 0, applications: 0, failedApplications: 0, lastBatchSize: 0, largestBatchSize: 0 };

  const report = (size: number, oldestEnqueuedAt: number, started: number, model: ScoringModel | undefined, failed: number) => {
    if (!onBatch) return;
    try {
      onBatch({
        size,
        queueWaitMs: started - oldestEnqueuedAt,
        inferenceMs: performance.now() - started,
        modelVersion: model && `${model.manifest.name}-${model.manifest.version}`,
        failed,
      });
    } catch {
      // a metrics callback must never fail a batch
    }
  };

  /**
   * Scores a window's keys: those whose signal aborted are left out (they reject with its reason); the others'
   * applications are concatenated and scored in runs of at most maxBatchSize, and the results sliced back per key.
   */
  const batchLoad = async (keys: readonly BatchKey[]): Promise<Array<BatchResult | Error>> => {
    const out: Array<BatchResult | Error> = new Array(keys.length);
    const live: BatchKey[] = [];
    let total = 0;
    let oldest = Infinity;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k];
      if (key.signal?.aborted) {
        out[k] = toError(key.signal.reason);
        continue;
      }
      live.push(key);
      total += key.applications.length;
      if (key.enqueuedAt < oldest) oldest = key.enqueuedAt;
    }
    if (total === 0) return out;
    const all: LoanApplication[] = live.length === 1 ? (live[0].applications as LoanApplication[]) : [];
    if (live.length > 1) for (const key of live) for (const application of key.applications) all.push(application);
    const scored: BatchResult = total <= maxBatchSize ? await scoreBatch(all, oldest) : [];
    for (let from = 0; total > maxBatchSize && from < total; from += maxBatchSize) {
      for (const result of await scoreBatch(all.slice(from, from + maxBatchSize), oldest)) scored.push(result);
    }
    let at = 0;
    for (let k = 0; k < keys.length; k++) {
      if (out[k] !== undefined) continue;
      const n = keys[k].applications.length;
      out[k] = live.length === 1 ? scored : scored.slice(at, at + n);
      at += n;
    }
    return out;
  };

  const scoreBatch = async (keys: readonly LoanApplication[], oldestEnqueuedAt: number): Promise<BatchResult> => {
    stats.batches++;
    stats.applications += keys.length;
    stats.lastBatchSize = keys.length;
    if (keys.length > stats.largestBatchSize) stats.largestBatchSize = keys.length;
    const started = performance.now();
    let model: ScoringModel | undefined;
    try {
      model = getModel();
      const results = await model.score(keys);
      report(keys.length, oldestEnqueuedAt, started, model, 0);
      if (getChallenger) await challengerAfter(keys, results);
      return results;
    } catch (error) {
      if (error instanceof PartialScoringError && error.results.length === keys.length) {
        let failed = 0;
        for (const r of error.results) if (r instanceof Error) failed++;
        stats.failedApplications += failed;
        report(keys.length, oldestEnqueuedAt, started, model, failed);
        const results = [...error.results];
        if (getChallenger) await challengerAfter(keys, results);
        return results;
      }
      stats.failedApplications += keys.length;
      report(keys.length, oldestEnqueuedAt, started, model, keys.length);
      const failure = toError(error);
      return keys.map(() => failure);
    }
  };

  /** The challenger's run on what the served model scored; its failures, and its callback's, never fail the batch. */
  const challengerAfter = async (keys: readonly LoanApplication[], results: Array<ScoredApplication | Error>) => {
    const challengerReport = await scoreChallenger(getChallenger!, keys, results);
    try {
      if (challengerReport) onChallenger?.(challengerReport);
    } catch {
      // a metrics or logging callback must never fail a batch
    }
  };

  const batchScheduleFn =
    windowMs > 0 ? (callback: () => void) => void setTimeout(callback, windowMs) : (callback: () => void) => void setImmediate(callback);

  const loader = new ScoringLoader(batchLoad, batchScheduleFn, maxPending);
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
