/**
 * An audit database written by the first layout (idempotency keys unique across all partners) is migrated on first
 * start, rows kept, so that keys become per partner.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditBatch } from '../src/decisions/audit/audit-store.js';
import { decisionId } from '../src/decisions/audit/records.js';
import { AUDIT_SCHEMA_VERSION } from '../src/decisions/audit/sqlite-schema.js';
import { SqliteAuditStore } from '../src/decisions/audit/sqlite-store.js';

/** The decisions table as the first release created it. */
const FIRST_LAYOUT = `
CREATE TABLE decisions (
  id TEXT PRIMARY KEY, application_ref TEXT, idempotency_key TEXT UNIQUE, input_hash TEXT, input_json TEXT NOT NULL,
  features_json TEXT NOT NULL, probability REAL NOT NULL, score INTEGER NOT NULL, outcome TEXT NOT NULL,
  reasons_json TEXT NOT NULL, policy_hits_json TEXT NOT NULL, model_version TEXT NOT NULL, model_sha256 TEXT NOT NULL,
  policy_version TEXT NOT NULL, decided_at TEXT NOT NULL, received_at TEXT NOT NULL, latency_ms REAL NOT NULL, caller TEXT
);`;

/** ids of the first layout were UUIDs */
const OLD_ID = 'b3c1f0e2-7a4d-4e8b-9c61-5d2e8f9a0b47';
const OLD_INPUT = JSON.stringify({ applicationRef: 'Zoë — ref-1', creditScore: 560 });
const OLD_PROBABILITY = 0.30000000000000004;
const OLD_REASON = { code: 'CREDIT_SCORE', description: 'Credit score — low', source: 'MODEL', feature: 'creditScore', impact: 0.0123, ruleId: null };
const OLD_HIT = { ruleId: 'max-dti', effect: 'REFER', description: 'Debt to income above 45 %' };

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function oldDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loan-api-migration-'));
  dirs.push(dir);
  const file = join(dir, 'decisions.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(FIRST_LAYOUT);
  const insert = db.prepare(`INSERT INTO decisions VALUES (?, ?, ?, ?, ?, '{"creditScore":560}', ?, 600, 'DECLINE', ?, ?, 'm-1', 'sha', 'p-1',
    '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', 2, ?)`);
  insert.run(OLD_ID, 'ref-1', 'order-1001', 'hash-1', OLD_INPUT, OLD_PROBABILITY, JSON.stringify([OLD_REASON]), JSON.stringify([OLD_HIT]), 'acme');
  insert.run('6f1c2a9e-0b7d-4c55-9e21-3a8d4f0c7b12', 'ref-2', null, null, '{}', 0.3, '[]', '[]', 'globex');
  db.close();
  return file;
}

function record(batchId: string, key: string, caller: string, inputHash = `hash-${batchId}`): AuditBatch {
  const decision = {
    id: decisionId(batchId, 0),
    applicationRef: `ref-${batchId}`,
    outcome: 'APPROVE' as const,
    probabilityOfDefault: 0.05,
    score: 780,
    reasons: [],
    policyHits: [],
    policyVersion: 'p-1',
    modelVersion: 'm-1',
    decidedAt: new Date(),
  };
  return {
    batchId,
    caller,
    receivedAt: new Date(),
    decidedAt: decision.decidedAt,
    latencyMs: 1,
    policyVersion: 'p-1',
    items: [{ decision, input: {}, idempotencyKey: key, inputHash, modelSha256: 'sha' }],
  };
}

describe('the audit database of the first layout', () => {
  it('is migrated on first start with every row kept, and its keys become per partner', async () => {
    const file = oldDatabase();
    const store = new SqliteAuditStore(file, 'normal');
    try {
      expect(await store.count()).toBe(2);
      expect(await store.getDecision(OLD_ID)).toEqual({
        caller: 'acme',
        decision: {
          id: OLD_ID,
          applicationRef: 'ref-1',
          outcome: 'DECLINE',
          probabilityOfDefault: OLD_PROBABILITY,
          score: 600,
          reasons: [OLD_REASON],
          policyHits: [OLD_HIT],
          modelVersion: 'm-1',
          policyVersion: 'p-1',
          decidedAt: new Date('2026-11-01T00:00:00.000Z'),
          application: JSON.parse(OLD_INPUT),
          review: null,
        },
      });
      // every stored value kept: the input as received and the feature values too
      const stored = (await store.getRecord(OLD_ID))!;
      expect(stored).toMatchObject({ latency_ms: 2, model_sha256: 'sha', idempotency_key: 'order-1001' });
      expect(stored.entry).toEqual([JSON.parse(OLD_INPUT), OLD_PROBABILITY, 600, 'DECLINE', [OLD_REASON], [OLD_HIT], null, { creditScore: 560 }]);
      expect((await store.findByKeys('acme', ['order-1001'])).get('order-1001')).toMatchObject({ inputHash: 'hash-1', decision: { id: OLD_ID } });
      expect((await store.findByKeys('globex', ['order-1001'])).size).toBe(0);
      // globex may now use the key acme used; acme's own key still replays its decision
      expect(await store.recordBatch(record('new-1', 'order-1001', 'globex'))).toEqual([{ kind: 'stored' }]);
      const again = await store.recordBatch(record('new-2', 'order-1001', 'acme', 'hash-1'));
      expect(again).toEqual([expect.objectContaining({ kind: 'replayed', decision: expect.objectContaining({ id: OLD_ID }) })]);
      expect(await store.count()).toBe(3);
    } finally {
      await store.close();
    }
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(AUDIT_SCHEMA_VERSION);
    db.close();
  });

  it('is migrated once: a second start finds it done and keeps the rows', async () => {
    const file = oldDatabase();
    await new SqliteAuditStore(file, 'normal').close();
    const store = new SqliteAuditStore(file, 'normal');
    try {
      expect(await store.count()).toBe(2);
    } finally {
      await store.close();
    }
  });
});
