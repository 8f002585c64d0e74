import type DataLoader from 'dataloader';
import type { AuditStore } from '../audit/audit-store.js';
import { validateApplication, type FieldError, type LoanApplication } from './application.js';
import { decisionFrom, inputHash, type Decision, type DecisionPolicy, type DecisionResult } from './decisioning.js';
import type { ScoredApplication } from './scoring-model.js';

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
  /** the partner key id, recorded in the audit trail */
  caller?: string | null;
}

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
    private readonly loader: DataLoader<LoanApplication, ScoredApplication>,
    private readonly audit: AuditStore | null,
    private readonly decisionPolicy: DecisionPolicy,
  ) {}

  get policyVersion(): string {
    return this.decisionPolicy.policy.version;
  }

  async decide(input: unknown, options: DecideOptions = {}): Promise<DecisionResult> {
    const receivedAt = new Date();
    const started = performance.now();
    const key = options.idempotencyKey ?? null;
    const validation = validateApplication(input);
    const errors = [...(validation.ok ? [] : validation.errors), ...keyErrors(key, this.audit)];
    if (!validation.ok || errors.length > 0) return invalid(errors);

    const application = validation.application;
    // Only a key needs the hash (to tell a replay from a reused key); hashing every application costs ~10 % of bulk.
    const hash = key === null ? null : inputHash(application);
    if (key !== null) {
      const earlier = this.audit!.findByKey(key);
      if (earlier) return this.replay(key, hash!, earlier);
    }

    const scored = await this.loader.load(application);
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
      caller: options.caller ?? null,
    });
    if (recorded.kind === 'stored') return { kind: 'decision', ...decision };
    if (recorded.kind === 'replayed') return { kind: 'decision', replayed: true, ...recorded.decision };
    throw new IdempotencyKeyReusedError(key!);
  }

  private replay(key: string, hash: string, earlier: { decision: Decision; inputHash: string }): DecisionResult {
    if (earlier.inputHash !== hash) throw new IdempotencyKeyReusedError(key);
    return { kind: 'decision', replayed: true, ...earlier.decision };
  }

  getDecision(id: string): Decision | undefined {
    return this.audit?.getDecision(id);
  }
}
