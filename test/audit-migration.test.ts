/**
 * An audit database written by the first layout (idempotency keys unique across all partners) is migrated on first
 * start, rows kept, so that keys become per partner.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditStore, type AuditRecord } from '../src/decisions/audit/audit-store.js';
import { AUDIT_SCHEMA_VERSION } from '../src/decisions/audit/database.js';

/** The decisions table as the first release created it. */
const FIRST_LAYOUT = `
CREATE TABLE decisions (
  id TEXT PRIMARY KEY, application_ref TEXT, idempotency_key TEXT UNIQUE, input_hash TEXT, input_json TEXT NOT NULL,
  features_json TEXT NOT NULL, probability REAL NOT NULL, score INTEGER NOT NULL, outcome TEXT NOT NULL,
  reasons_json TEXT NOT NULL, policy_hits_json TEXT NOT NULL, model_version TEXT NOT NULL, model_sha256 TEXT NOT NULL,
  policy_version TEXT NOT NULL, decided_at TEXT NOT NULL, received_at TEXT NOT NULL, latency_ms REAL NOT NULL, caller TEXT
);`;

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
  const insert = db.prepare(`INSERT INTO decisions VALUES (?, ?, ?, ?, '{}', '{}', 0.3, 600, 'DECLINE', '[]', '[]', 'm-1', 'sha', 'p-1',
    '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', 2, ?)`);
  insert.run('old-1', 'ref-1', 'order-1001', 'hash-1', 'acme');
  insert.run('old-2', 'ref-2', null, null, 'globex');
  db.close();
  return file;
}

function record(id: string, key: string, caller: string): AuditRecord {
  return {
    decision: {
      id,
      applicationRef: `ref-${id}`,
      outcome: 'APPROVE',
      probabilityOfDefault: 0.05,
      score: 780,
      reasons: [],
      policyHits: [],
      policyVersion: 'p-1',
      modelVersion: 'm-1',
      decidedAt: new Date(),
    },
    idempotencyKey: key,
    inputHash: `hash-${id}`,
    input: {},
    features: [],
    modelSha256: 'sha',
    receivedAt: new Date(),
    latencyMs: 1,
    caller,
  };
}

describe('the audit database of the first layout', () => {
  it('is migrated on first start with every row kept, and its keys become per partner', async () => {
    const file = oldDatabase();
    const store = new AuditStore(file, 'normal');
    try {
      expect(store.count()).toBe(2);
      expect(store.getDecision('old-1')).toMatchObject({ caller: 'acme', decision: { outcome: 'DECLINE', applicationRef: 'ref-1' } });
      expect(store.findByKey('acme', 'order-1001')).toMatchObject({ inputHash: 'hash-1', decision: { id: 'old-1' } });
      expect(store.findByKey('globex', 'order-1001')).toBeUndefined();
      // globex may now use the key acme used; acme's own key still replays its decision
      expect(await store.record(record('new-1', 'order-1001', 'globex'))).toEqual({ kind: 'stored' });
      const again = await store.record({ ...record('new-2', 'order-1001', 'acme'), inputHash: 'hash-1' });
      expect(again).toMatchObject({ kind: 'replayed', decision: { id: 'old-1' } });
      expect(store.count()).toBe(3);
    } finally {
      await store.close();
    }
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(AUDIT_SCHEMA_VERSION);
    db.close();
  });

  it('is migrated once: a second start finds it done and keeps the rows', async () => {
    const file = oldDatabase();
    await new AuditStore(file, 'normal').close();
    const store = new AuditStore(file, 'normal');
    try {
      expect(store.count()).toBe(2);
    } finally {
      await store.close();
    }
  });
});
