import { randomBytes } from 'node:crypto';
import type { AuditBatch } from '../../src/decisions/audit/audit-store.js';
import { decisionId } from '../../src/decisions/audit/records.js';
import type { Decision } from '../../src/decisions/decision.js';

export interface BatchSpec {
  caller?: string | null;
  /** one per decision (null: no key); its length is the batch's size */
  keys?: Array<string | null>;
  /** the input hash of each keyed decision; default: derived from the key, so the same key replays */
  hashes?: Array<string | null>;
  size?: number;
  decidedAt?: Date;
  /** the model of the decisions after the first (default: the same as the first) */
  otherModel?: boolean;
  /**
   * what a challenger would have decided, beside every decision but each fourth (which it failed to score); the sixth
   * by another challenger (a swap between two runs of one request)
   */
  challenger?: boolean;
}

const OUTCOMES = ['APPROVE', 'REFER', 'DECLINE'] as const;

/**
 * A decided batch as the decision service hands it to a store: every field of every decision distinct, so a read
 * that returned the wrong row, position or batch would not compare equal.
 */
export function auditBatch(spec: BatchSpec = {}): AuditBatch & { decisions: Decision[] } {
  const batchId = randomBytes(16).toString('base64url');
  const size = spec.keys?.length ?? spec.size ?? 1;
  const decidedAt = spec.decidedAt ?? new Date();
  const decisions: Decision[] = [];
  const items: AuditBatch['items'] = [];
  for (let n = 0; n < size; n++) {
    const key = spec.keys?.[n] ?? null;
    const p = Number(`0.${randomBytes(6).readUIntBE(0, 6)}`) / 2;
    const decision: Decision = {
      id: decisionId(batchId, n),
      applicationRef: n % 3 === 0 ? null : `ref-${batchId.slice(0, 6)}-${n}`,
      outcome: OUTCOMES[n % 3],
      probabilityOfDefault: p,
      score: 300 + n,
      reasons:
        n % 3 === 0
          ? []
          : [
              { code: 'R01', description: 'Debt-to-income ratio is high', source: 'MODEL', feature: 'debtToIncome', impact: 0.12 + n, ruleId: null },
              { code: 'P07', description: 'Policy: recent delinquency', source: 'POLICY', feature: 'delinquencies', impact: 0, ruleId: 'recent-delinquency' },
            ],
      policyHits: n % 2 === 0 ? [] : [{ ruleId: 'recent-delinquency', effect: 'REFER', description: 'Recent delinquency' }],
      modelVersion: spec.otherModel && n > 0 ? 'other-2.0.0' : 'loan-default-lr-1.0.0',
      policyVersion: 'policy-test',
      decidedAt,
    };
    const input = { applicationRef: decision.applicationRef, loanAmount: 1000 + n, note: 'ünïcödé "quoted" \\ back' };
    // as a store reads it back: with the input as received, and no review yet
    Object.assign(decision, { application: input, review: null });
    if (spec.challenger && n % 4 !== 3) {
      const [modelVersion, sha256] = n === 5 ? ['challenger-1.2.0', 'sha-challenger-next'] : ['challenger-1.1.0', 'sha-challenger'];
      decision.challenger = { modelVersion, sha256, probabilityOfDefault: p * 0.9 + 0.01, outcome: OUTCOMES[(n + 1) % 3] };
    }
    decisions.push(decision);
    items.push({
      decision,
      input,
      idempotencyKey: key,
      inputHash: key === null ? null : (spec.hashes?.[n] ?? `hash-of-${key}`),
      modelSha256: spec.otherModel && n > 0 ? 'sha-other' : 'sha-first',
    });
  }
  return {
    batchId,
    caller: spec.caller ?? null,
    receivedAt: new Date(decidedAt.getTime() - 3),
    decidedAt,
    latencyMs: 2.5,
    policyVersion: 'policy-test',
    items,
    decisions,
  };
}
