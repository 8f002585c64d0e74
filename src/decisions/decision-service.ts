import { randomBytes } from 'node:crypto';
import type { LoanApplication } from '../model/application.js';
import type { ScoringLoader } from '../model/batcher.js';
import type { AuditItem, AuditStore, RecordResult } from './audit/audit-store.js';
import { decisionId } from './audit/records.js';
import { decisionFrom, inputHash, type Decision, type DecisionPolicy, type DecisionResult } from './decision.js';
import { applicationErrors, idempotencyKeyErrors, type FieldError } from './rules.js';
import type { DecisionFilter, HistoryCursor } from './audit/history.js';
import { ReviewRefusedError, reviewErrors, type Review, type ReviewRequest } from './review.js';

/** The same idempotency key was used before for a different application. */
export class IdempotencyKeyReusedError extends Error {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  constructor(readonly key: string) {
    super(`idempotency key "${key}" was already used for a different application`);
  }
}

export interface DecideOptions {
  /** one key (or null) per application */
  idempotencyKeys?: ReadonlyArray<string | null | undefined> | null;
  /** the partner key id: recorded in the audit trail, and the scope of the idempotency keys */
  caller?: string | null;
  /** the request's deadline: once aborted, nothing more is validated, queued or scored for it */
  signal?: AbortSignal;
}

/** One application's answer: a decision (made now or replayed), an invalid application, or a reused key. */
export type BatchResult = DecisionResult | IdempotencyKeyReusedError;

/**
 * Who may read which decisions: `all` (no keys configured, or the admin key), `none` (keys configured, no valid key),
 * or one partner's own decisions.
 */
export type ReadScope = 'all' | 'none' | { keyId: string };

export interface DecisionEvents {
  /** new decisions were made and recorded (an idempotent replay is not one); metrics listen here */
  onDecided?: (decision: Decision) => void;
  /** a person's review was recorded */
  onReviewed?: (review: Review) => void;
}

/** The longest page of the history a request gets: `first` above it is refused, not silently cut. */
export const MAX_PAGE_SIZE = 100;

function invalid(errors: FieldError[]): DecisionResult {
  const fields = [...new Set(errors.map((e) => e.field))];
  return {
    kind: 'invalid',
    message: `The application breaks ${errors.length} rule(s) on ${fields.join(', ')}`,
    fieldErrors: errors,
  };
}

const IDEMPOTENCY_UNAVAILABLE: FieldError[] = [
  {
    field: 'idempotencyKey',
    code: 'IDEMPOTENCY_UNAVAILABLE',
    message: 'idempotency keys need the audit trail, which is switched off on this deployment',
  },
];

const NO_ERRORS: FieldError[] = [];

function keyErrors(key: string, auditing: boolean): FieldError[] {
  const broken = idempotencyKeyErrors(key);
  return broken.length > 0 || auditing ? broken : IDEMPOTENCY_UNAVAILABLE;
}

/** The decision made earlier under a key, answered again; or the key's refusal when the application differs. */
function replayOf(key: string, hash: string, earlier: { decision: Decision; inputHash: string }): BatchResult {
  if (earlier.inputHash !== hash) return new IdempotencyKeyReusedError(key);
  return { kind: 'decision', ...earlier.decision };
}

/** The random part of a batch's decision ids: 16 bytes, so no id tells anything of another batch's. */
const newBatchId = () => randomBytes(16).toString('base64url');

/**
 * Decides a request's applications as one batch: one pass of the rules, one idempotency look-up per keyed item,
 * one request to the shared batcher (one model run, shared with whatever other requests arrive in the same window),
 * outcomes, scores, policy and reasons over the batch, and one durable audit write for the batch before anything is
 * answered. Results come back in input order; an invalid item fails alone.
 */
export class DecisionService {
  constructor(
    private readonly loader: ScoringLoader,
    private readonly audit: AuditStore | null,
    private readonly decisionPolicy: DecisionPolicy,
    private readonly events: DecisionEvents = {},
  ) {}

  get policyVersion(): string {
    return this.decisionPolicy.policy.version;
  }

  /** One application (a batch of one); a reused idempotency key throws IdempotencyKeyReusedError. */
  async decide(application: LoanApplication, options: { idempotencyKey?: string | null; caller?: string | null; signal?: AbortSignal } = {}) {
    const [result] = await this.decideBatch([application], { ...options, idempotencyKeys: [options.idempotencyKey] });
    if (result instanceof IdempotencyKeyReusedError) throw result;
    return result;
  }

  async decideBatch(applications: readonly LoanApplication[], options: DecideOptions = {}): Promise<BatchResult[]> {
    options.signal?.throwIfAborted();
    const receivedAt = new Date();
    const started = performance.now();
    const caller = options.caller ?? null;
    const keys = options.idempotencyKeys;
    const n = applications.length;
    const results: Array<BatchResult | undefined> = new Array(n);
    const hashes: Array<string | null> = new Array(n).fill(null);
    const toScore: number[] = [];
    /** the first item of this batch under each key: later items with the key follow its answer */
    let firstWithKey: Map<string, number> | undefined;

    // one pass of the rules; the keys of the valid items
    const keyed: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = keys?.[i] ?? null;
      const broken = applicationErrors(applications[i]);
      const brokenKey = key === null ? NO_ERRORS : keyErrors(key, this.audit !== null);
      if (broken.length > 0 || brokenKey.length > 0) {
        results[i] = invalid(brokenKey.length === 0 ? broken : [...broken, ...brokenKey]);
      } else if (key !== null) {
        // Only a key needs the hash (to tell a replay from a reused key): hashing every application costs ~10 % of bulk.
        hashes[i] = inputHash(applications[i]);
        keyed.push(key);
      }
    }
    // one look-up for all of them
    const earlier = keyed.length > 0 ? await this.audit!.findByKeys(caller, keyed) : undefined;
    for (let i = 0; i < n; i++) {
      if (results[i] !== undefined) continue;
      const key = keys?.[i] ?? null;
      if (key !== null) {
        const made = earlier!.get(key);
        if (made) {
          results[i] = replayOf(key, hashes[i]!, made);
          continue;
        }
        firstWithKey ??= new Map();
        if (firstWithKey.has(key)) continue; // answered below, from the first item with this key
        firstWithKey.set(key, i);
      }
      toScore.push(i);
    }

    if (toScore.length > 0) await this.decideScored(applications, toScore, hashes, results, { caller, keys, receivedAt, started, signal: options.signal });

    if (firstWithKey) {
      for (let i = 0; i < n; i++) {
        if (results[i] !== undefined) continue;
        const key = keys![i]!;
        const first = results[firstWithKey.get(key)!];
        results[i] =
          first !== undefined && !(first instanceof Error) && first.kind === 'decision'
            ? replayOf(key, hashes[i]!, { decision: first, inputHash: hashes[firstWithKey.get(key)!]! })
            : new IdempotencyKeyReusedError(key);
      }
    }
    return results as BatchResult[];
  }

  /** Scores the items at `indices` in one request to the batcher, decides them, and records them as one batch. */
  private async decideScored(
    applications: readonly LoanApplication[],
    indices: number[],
    hashes: Array<string | null>,
    results: Array<BatchResult | undefined>,
    context: { caller: string | null; keys: DecideOptions['idempotencyKeys']; receivedAt: Date; started: number; signal?: AbortSignal },
  ): Promise<void> {
    const batch = indices.length === applications.length ? applications : indices.map((i) => applications[i]);
    const scored = await this.loader.loadBatch(batch, context.signal);
    const decidedAt = new Date();
    const batchId = newBatchId();
    const decisions: Decision[] = new Array(indices.length);
    for (let j = 0; j < indices.length; j++) {
      const result = scored[j];
      // an application the model could not score fails the request (masked): there is no decision to answer
      if (result instanceof Error) throw result;
      decisions[j] = decisionFrom(batch[j], result, this.decisionPolicy, decidedAt, decisionId(batchId, j));
    }
    if (!this.audit) {
      for (let j = 0; j < indices.length; j++) results[indices[j]] = this.decided(decisions[j]);
      return;
    }
    const items: AuditItem[] = new Array(indices.length);
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j];
      items[j] = {
        decision: decisions[j],
        input: batch[j],
        idempotencyKey: context.keys?.[i] ?? null,
        inputHash: hashes[i],
        modelSha256: (scored[j] as Exclude<(typeof scored)[number], Error>).model.sha256,
      };
    }
    const recorded: RecordResult[] = await this.audit.recordBatch({
      batchId,
      caller: context.caller,
      receivedAt: context.receivedAt,
      decidedAt,
      latencyMs: performance.now() - context.started,
      policyVersion: this.decisionPolicy.policy.version,
      items,
    });
    for (let j = 0; j < indices.length; j++) {
      const outcome = recorded[j];
      const i = indices[j];
      if (outcome.kind === 'stored') results[i] = this.decided(decisions[j]);
      else if (outcome.kind === 'replayed') results[i] = { kind: 'decision', ...outcome.decision };
      else results[i] = new IdempotencyKeyReusedError(context.keys![i]!);
    }
  }

  private decided(decision: Decision): DecisionResult {
    this.events.onDecided?.(decision);
    return { kind: 'decision', ...decision };
  }

  /**
   * A page of the history within the reader's scope, newest first, and whether there is more after it. A partner
   * reads its own decisions only; `none` reads nothing.
   */
  async listDecisions(
    scope: ReadScope,
    filter: DecisionFilter,
    page: { first: number; after?: HistoryCursor },
  ): Promise<{ decisions: Decision[]; hasNextPage: boolean }> {
    if (scope === 'none' || !this.audit || page.first === 0) return { decisions: [], hasNextPage: false };
    const found = await this.audit.listDecisions({
      caller: scope === 'all' ? undefined : scope.keyId,
      filter,
      after: page.after,
      // one more than asked tells whether there is a next page
      limit: page.first + 1,
    });
    return { decisions: found.slice(0, page.first), hasNextPage: found.length > page.first };
  }

  /**
   * Records a reviewer's decision on a REFER, once, beside the model's decision (which stays as it was): refused with
   * ReviewRefusedError when it breaks a rule, is not found, is not a REFER, or has a review (from any replica).
   */
  async reviewDecision(id: string, reviewer: string, request: ReviewRequest): Promise<{ decision: Decision; review: Review }> {
    const broken = reviewErrors(request, this.decisionPolicy.reasonCodes);
    if (broken.length > 0) {
      throw new ReviewRefusedError('BAD_USER_INPUT', `The review breaks ${broken.length} rule(s): ${broken.map((e) => `${e.field}: ${e.message}`).join('; ')}`, broken);
    }
    const found = this.audit ? await this.audit.getDecision(id) : undefined;
    if (!found) throw new ReviewRefusedError('NOT_FOUND', 'No decision with this id');
    const { decision } = found;
    if (decision.outcome !== 'REFER') {
      throw new ReviewRefusedError('NOT_REVIEWABLE', `Only a REFER is reviewed; this decision is ${decision.outcome}`);
    }
    if (decision.review) throw new ReviewRefusedError('ALREADY_REVIEWED', 'This decision has been reviewed already');
    const review: Review = {
      outcome: request.outcome,
      reasonCodes: [...(request.reasonCodes ?? [])],
      note: request.note ?? null,
      reviewer,
      reviewedAt: new Date(),
    };
    if ((await this.audit!.recordReview(id, review)) === 'already-reviewed') {
      throw new ReviewRefusedError('ALREADY_REVIEWED', 'This decision has been reviewed already');
    }
    this.events.onReviewed?.(review);
    return { decision: { ...decision, review }, review };
  }

  /** The reason-code table: what a DECLINE review may cite. */
  get reasonCodes(): Array<{ code: string; description: string }> {
    return Object.entries(this.decisionPolicy.reasonCodes.codes).map(([code, description]) => ({ code, description }));
  }

  /** A decision within the reader's scope; one outside it is answered exactly as an unknown id. */
  async getDecision(id: string, scope: ReadScope): Promise<Decision | undefined> {
    if (scope === 'none') return undefined;
    const found = await this.audit?.getDecision(id);
    if (!found || (scope !== 'all' && found.caller !== scope.keyId)) return undefined;
    return found.decision;
  }
}
