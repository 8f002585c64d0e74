import type { LoanApplication } from './application.js';
import type { ScoredApplication, ScoringModel } from './scoring-model.js';

/** What the batcher's `onChallenger` is told about the challenger's part of one batch. */
export interface ChallengerReport {
  /** applications of the batch the served model scored (those the challenger was compared on) */
  size: number;
  /** `name-version` of the challenger, or undefined when none could be had */
  modelVersion: string | undefined;
  /** from the start of the challenger's run to its end (it runs beside the served model's), ms */
  inferenceMs: number;
  /** applications the served model scored and the challenger did not */
  failed: number;
  /** why: the run's own error, or what the first application without a probability got; undefined when none failed */
  error: Error | undefined;
}

/** A challenger's run, started beside the served model's, whose probabilities are attached to that model's results. */
export interface ChallengerRun {
  /**
   * Waits for the run and sets `challenger` on each result that has a score and a valid challenger probability.
   * Never rejects: a failing challenger leaves the results as they were, and says so in the report.
   */
  attachTo(results: Array<ScoredApplication | Error>): Promise<ChallengerReport>;
}

type Settled = { probabilities: Float32Array; error?: undefined } | { probabilities?: undefined; error: Error };

const toError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error(String(reason)));

/**
 * Starts the challenger (when `getChallenger` gives one) on the applications of a batch: one `session.run` of one row
 * per application, no explanation rows. Undefined when there is no challenger.
 */
export function scoreChallenger(
  getChallenger: () => ScoringModel | undefined,
  applications: readonly LoanApplication[],
): ChallengerRun | undefined {
  const started = performance.now();
  let challenger: ScoringModel | undefined;
  let run: Promise<Settled>;
  try {
    challenger = getChallenger();
    if (challenger === undefined) return undefined;
    run = challenger.probabilities(applications).then(
      (probabilities) => ({ probabilities }),
      (error: unknown) => ({ error: toError(error) }),
    );
  } catch (error) {
    run = Promise.resolve({ error: toError(error) });
  }
  const model = challenger;
  const modelVersion = model && `${model.manifest.name}-${model.manifest.version}`;

  return {
    async attachTo(results) {
      const settled = await run;
      const inferenceMs = performance.now() - started;
      let size = 0;
      let failed = 0;
      for (let i = 0; i < results.length; i++) {
        const result = results[i];
        if (result instanceof Error) continue;
        size++;
        const p = settled.probabilities?.[i];
        if (p === undefined || Number.isNaN(p)) failed++;
        else result.challenger = { probabilityOfDefault: p, model: model! };
      }
      const error =
        settled.error ??
        (failed > 0
          ? new Error(`${failed} of ${size} application(s) got no probability from the challenger (NaN, or a feature it cannot encode)`)
          : undefined);
      return { size, modelVersion, inferenceMs, failed, error };
    },
  };
}
