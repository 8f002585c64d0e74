import type { LoanApplication } from './application.js';
import type { ScoredApplication, ScoringModel } from './scoring-model.js';

/** What the batcher's `onChallenger` is told about the challenger's part of one batch. */
export interface ChallengerReport {
  /** applications of the batch the served model scored (those the challenger was compared on) */
  size: number;
  /** `name-version` of the challenger, or undefined when none could be had */
  modelVersion: string | undefined;
  /** the challenger's run: encoding, one `session.run`, decoding, ms */
  inferenceMs: number;
  /** applications the served model scored and the challenger did not */
  failed: number;
  /** why: the run's own error, or what the applications without a probability got; undefined when none failed */
  error: Error | undefined;
}

const toError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error(String(reason)));

/**
 * Scores a batch's applications with the challenger (when `getChallenger` gives one), right after the served model's
 * run and in the same batcher dispatch, so a request waits for both once: one `session.run` of one row per
 * application, no explanation rows. (onnxruntime-node runs a session on the event loop's thread, deferred by
 * setImmediate, so starting both runs together would overlap nothing.) Sets `challenger` on each result that has a
 * score and gets a valid probability. Never rejects: a failing challenger leaves the results as they were, and the
 * report says so. Undefined when there is no challenger.
 */
export async function scoreChallenger(
  getChallenger: () => ScoringModel | undefined,
  applications: readonly LoanApplication[],
  results: Array<ScoredApplication | Error>,
): Promise<ChallengerReport | undefined> {
  const started = performance.now();
  let model: ScoringModel | undefined;
  let probabilities: Float32Array | undefined;
  let error: Error | undefined;
  try {
    model = getChallenger();
    if (model === undefined) return undefined;
    probabilities = await model.probabilities(applications);
  } catch (e) {
    error = toError(e);
  }
  const inferenceMs = performance.now() - started;
  let size = 0;
  let failed = 0;
  for (let i = 0; i < results.length; i++) {
    const result = results[i];
    if (result instanceof Error) continue;
    size++;
    const p = probabilities?.[i];
    if (p === undefined || Number.isNaN(p)) failed++;
    else result.challenger = { probabilityOfDefault: p, model: model! };
  }
  if (failed > 0 && error === undefined) {
    error = new Error(`${failed} of ${size} application(s) got no probability from the challenger (NaN, or a feature it cannot encode)`);
  }
  return { size, modelVersion: model && `${model.manifest.name}-${model.manifest.version}`, inferenceMs, failed, error };
}
