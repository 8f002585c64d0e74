import type { AuditStore } from '../audit/audit-store.js';
import { CONTROL_CHARACTERS, validateApplication, type FieldError } from './application.js';
import { decisionFrom, inputHash, type Decision, type DecisionPolicy, type DecisionResult } from './decisioning.js';
import type { ScoringLoader } from './batcher.js';

export const IDEMPOTENCY_KEY_MAX_LENGTH = 200;

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
  if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
    return [
      {
        field: 'idempotencyKey',
        code: 'OUT_OF_RANGE',
        message: `idempotencyKey must be 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} characters`,
      },
    ];
  }
  if (CONTROL_CHARACTERS.test(key)) {
    return [{ field: 'idempotencyKey', code: 'CONTROL_CHARACTER', message: 'idempotencyKey must not contain control characters' }];
  }
  if (!audit) {
    return [
      {
        field: 'idempotencyKey',
        code: 'IDEMPOTENCY_UNAVAILABLE',
        message: 'idempotency keys need the audit trail, which is switched off on this deployment',
      },
    ];
  }
  return [];
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
  ) {}

  get policyVersion(): string {
    return this.decisionPolicy.policy.version;
  }

  async decide(input: unknown, options: DecideOptions = {}): Promise<DecisionResult> {
    options.signal?.throwIfAborted();
    const receivedAt = new Date();
    const started = performance.now();
    const key = options.idempotencyKey ?? null;
    const validation = validateApplication(input);
    const errors = [...(validation.ok ? [] : validation.errors), ...keyErrors(key, this.audit)];
    if (!validation.ok || errors.length > 0) return invalid(errors);

    const application = validation.application;
    // Only a key needs the hash (to tell a replay from a reused key); hashing every application costs ~10 % of bulk.
    const hash = key === null ? null : inputHash(application);
    const caller = options.caller ?? null;
    if (key !== null) {
      const earlier = this.audit!.findByKey(caller, key);
      if (earlier) return this.replay(key, hash!, earlier);
    }

    const scored = await this.loader.load(application, options.signal);
    const decision = decisionFrom(application, scored, this.decisionPolicy);
    if (!this.audit) return { kind: 'decision', ...decision };

    const recorded = await this.audit.record({
      decision,
      idempotencyKey: key,
      inputHash: hash,
      input,
      features: scored.impacts,
      modelSha256: scored.model.sha256,
      receivedAt,
      latencyMs: performance.now() - started,
      caller,
    });
    if (recorded.kind === 'stored') return { kind: 'decision', ...decision };
    if (recorded.kind === 'replayed') return { kind: 'decision', replayed: true, ...recorded.decision };
    throw new IdempotencyKeyReusedError(key!);
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
