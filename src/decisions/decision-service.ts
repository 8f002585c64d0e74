import type { LoanApplication } from '../model/application.js';
import type { ScoringLoader } from '../model/batcher.js';
import type { AuditStore } from './audit/audit-store.js';
import { decisionFrom, inputHash, type Decision, type DecisionPolicy, type DecisionResult } from './decision.js';
import { applicationErrors, idempotencyKeyErrors, type FieldError } from './rules.js';

/** The same idempotency key was used before for a different application. */
export class IdempotencyKeyReusedError extends Error {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  constructor(readonly key: string) {
    super(`idempotency key "${key}" was already used for a different application`);
  }
}

export interface DecideOptions {
  idempotencyKey?: string | null;
  /** the partner key id: recorded in the audit trail, and the scope of the idempotency key */
  caller?: string | null;
  /** the request's deadline: once aborted, nothing more is validated, queued or scored for it */
  signal?: AbortSignal;
}

/**
 * Who may read which decisions: `all` (no keys configured, or the admin key), `none` (keys configured, no valid key),
 * or one partner's own decisions.
 */
export type ReadScope = 'all' | 'none' | { keyId: string };

function invalid(errors: FieldError[]): DecisionResult {
  const fields = [...new Set(errors.map((e) => e.field))];
  return {
    kind: 'invalid',
    message: `The application breaks ${errors.length} rule(s) on ${fields.join(', ')}`,
    fieldErrors: errors,
  };
}

function keyErrors(key: string | null | undefined, audit: AuditStore | null): FieldError[] {
  if (key === undefined || key === null) return [];
  const broken = idempotencyKeyErrors(key);
  if (broken.length > 0 || audit) return broken;
  return [
    {
      field: 'idempotencyKey',
      code: 'IDEMPOTENCY_UNAVAILABLE',
      message: 'idempotency keys need the audit trail, which is switched off on this deployment',
    },
  ];
}

export interface DecisionEvents {
  /** a new decision was made and recorded (an idempotent replay is not one); metrics listen here */
  onDecided?: (decision: Decision) => void;
}

/**
 * Validates, scores through the shared batcher, applies the policy, and records the decision durably before it is
 * returned. With an idempotency key, a repeat of the same application returns the decision already made.
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

  async decide(application: LoanApplication, options: DecideOptions = {}): Promise<DecisionResult> {
    options.signal?.throwIfAborted();
    const receivedAt = new Date();
    const started = performance.now();
    const key = options.idempotencyKey ?? null;
    const broken = applicationErrors(application);
    const brokenKey = keyErrors(key, this.audit);
    if (broken.length > 0 || brokenKey.length > 0) return invalid([...broken, ...brokenKey]);

    // Only a key needs the hash (to tell a replay from a reused key); hashing every application costs ~10 % of bulk.
    const hash = key === null ? null : inputHash(application);
    const caller = options.caller ?? null;
    if (key !== null) {
      const earlier = this.audit!.findByKey(caller, key);
      if (earlier) return this.replay(key, hash!, earlier);
    }

    const scored = await this.loader.load(application, options.signal);
    const decision = decisionFrom(application, scored, this.decisionPolicy);
    if (!this.audit) return this.decided(decision);

    const recorded = await this.audit.record({
      decision,
      idempotencyKey: key,
      inputHash: hash,
      input: application,
      features: scored.features,
      modelSha256: scored.model.sha256,
      receivedAt,
      latencyMs: performance.now() - started,
      caller,
    });
    if (recorded.kind === 'stored') return this.decided(decision);
    if (recorded.kind === 'replayed') return { kind: 'decision', replayed: true, ...recorded.decision };
    throw new IdempotencyKeyReusedError(key!);
  }

  private decided(decision: Decision): DecisionResult {
    this.events.onDecided?.(decision);
    return { kind: 'decision', ...decision };
  }

  private replay(key: string, hash: string, earlier: { decision: Decision; inputHash: string }): DecisionResult {
    if (earlier.inputHash !== hash) throw new IdempotencyKeyReusedError(key);
    return { kind: 'decision', replayed: true, ...earlier.decision };
  }

  /** A decision within the reader's scope; one outside it is answered exactly as an unknown id. */
  getDecision(id: string, scope: ReadScope): Decision | undefined {
    if (scope === 'none') return undefined;
    const found = this.audit?.getDecision(id);
    if (!found || (scope !== 'all' && found.caller !== scope.keyId)) return undefined;
    return found.decision;
  }
}
