/**
 * Issue 12: one contract for the audit trail, kept by both stores. The same cases run against SQLite (a file in a
 * temporary folder) and against a real PostgreSQL server started by the test (test/helpers/postgres.ts): a batch is
 * committed before recordBatch resolves, a decision reads back exactly as answered from another replica's connection,
 * and an idempotency key yields exactly one decision per partner even when two replicas race for it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditStore } from '../src/decisions/audit/audit-store.js';
import { PostgresAuditStore } from '../src/decisions/audit/postgres-store.js';
import { decisionId } from '../src/decisions/audit/records.js';
import { SqliteAuditStore } from '../src/decisions/audit/sqlite-store.js';
import { auditBatch } from './helpers/audit.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';

let postgres: PostgresServer;
const folders: string[] = [];
const opened: AuditStore[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
});

afterAll(async () => {
  for (const store of opened) await store.close().catch(() => undefined);
  await postgres?.destroy();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/** Opens `replicas` stores on one new trail, as that many replicas would (each its own connections). */
type Engine = { name: string; trail: (replicas: number) => Promise<AuditStore[]> };

let databases = 0;
const engines: Engine[] = [
  {
    name: 'SQLite',
    async trail(replicas) {
      const dir = mkdtempSync(path.join(tmpdir(), 'loan-api-contract-'));
      folders.push(dir);
      const stores = Array.from({ length: replicas }, () => new SqliteAuditStore(path.join(dir, 'decisions.db'), 'normal'));
      opened.push(...stores);
      return stores;
    },
  },
  {
    name: 'PostgreSQL',
    async trail(replicas) {
      const url = await postgres.createDatabase(`contract_${++databases}`);
      const stores = Array.from({ length: replicas }, () => new PostgresAuditStore(url, { poolSize: 4, timeoutMs: 5_000 }));
      opened.push(...stores);
      await Promise.all(stores.map((s) => s.open()));
      return stores;
    },
  },
];

describe.each(engines)('the audit trail on $name', ({ name, trail }) => {
  it('says which engine it is, and takes writes once open', async () => {
    const [store] = await trail(1);
    expect(store.kind).toBe(name === 'SQLite' ? 'sqlite' : 'postgresql');
    expect(store.writable).toBe(true);
  });

  it('reads every decision of a batch back exactly as answered, from another replica', async () => {
    const [writer, reader] = await trail(2);
    const batch = auditBatch({ size: 7, caller: 'acme', otherModel: true });
    expect(await writer.recordBatch(batch)).toEqual(Array(7).fill({ kind: 'stored' }));
    // committed before the promise resolved: another connection sees all of it at once
    for (const decision of batch.decisions) {
      expect(await reader.getDecision(decision.id)).toEqual({ decision, caller: 'acme' });
    }
    expect(await reader.count()).toBe(7);
    const record = await reader.getRecord(batch.decisions[4].id);
    expect(record).toMatchObject({
      id: batch.decisions[4].id,
      caller: 'acme',
      outcome: batch.decisions[4].outcome,
      model_sha256: 'sha-first',
      latency_ms: 2.5,
      decided_at: batch.decidedAt.toISOString(),
      received_at: batch.receivedAt.toISOString(),
    });
    // the input as received, every character kept
    expect((record!.entry as unknown[])[0]).toEqual(batch.items[4].input);
    expect((record!.entry as unknown[])[6]).toEqual(['other-2.0.0', 'sha-other']);
  });

  it("keeps what a challenger would have decided beside each decision, and reads it back", async () => {
    const [writer, reader] = await trail(2);
    const batch = auditBatch({ size: 8, caller: 'acme', otherModel: true, challenger: true });
    await writer.recordBatch(batch);
    for (const decision of batch.decisions) {
      expect(await reader.getDecision(decision.id)).toEqual({ decision, caller: 'acme' });
      const record = (await reader.getRecord(decision.id))!;
      const entry = record.entry as unknown[];
      // the batch's challenger named once, in its descriptions; an entry names its own only when it is another
      expect(JSON.parse(record.descriptions as string).c).toEqual(['challenger-1.1.0', 'sha-challenger']);
      const c = decision.challenger;
      expect(entry[8]).toEqual(
        c && (c.sha256 === 'sha-challenger' ? [c.probabilityOfDefault, c.outcome] : [c.probabilityOfDefault, c.outcome, c.modelVersion, c.sha256]),
      );
      // the decision's own model where it is not the batch's, as without a challenger
      expect(entry[6] ?? null).toEqual(decision.modelVersion === 'other-2.0.0' ? ['other-2.0.0', 'sha-other'] : null);
    }
    expect(batch.decisions.filter((d) => d.challenger).length).toBe(6);
    expect(batch.decisions[5].challenger!.modelVersion).toBe('challenger-1.2.0');
    const listed = await reader.listDecisions({ filter: {}, limit: 10 });
    expect(listed).toEqual([...batch.decisions].reverse());
  });

  it('answers unknown, malformed and out-of-range ids with nothing', async () => {
    const [store] = await trail(1);
    const batch = auditBatch({ size: 2 });
    await store.recordBatch(batch);
    for (const id of [decisionId(batch.batchId, 2), 'no-such-batch.0', `${batch.batchId}.zz9`, `${batch.batchId}.-1`, `${batch.batchId}.01`, '', '.']) {
      expect(await store.getDecision(id), id).toBeUndefined();
    }
  });

  it('keeps many batches apart, and a batch of 1,000 in one piece', async () => {
    const [store] = await trail(1);
    const batches = Array.from({ length: 20 }, (_, n) => auditBatch({ size: (n % 4) + 1 }));
    // recorded in the same turn of the event loop: written together, answered each with its own results
    const results = await Promise.all(batches.map((b) => store.recordBatch(b)));
    expect(results.map((r) => r.length)).toEqual(batches.map((b) => b.items.length));
    const big = auditBatch({ size: 1000 });
    await store.recordBatch(big);
    for (const b of [...batches, big]) {
      for (const n of [0, b.decisions.length - 1]) expect((await store.getDecision(b.decisions[n].id))!.decision).toEqual(b.decisions[n]);
    }
    expect(await store.count()).toBe(batches.reduce((sum, b) => sum + b.items.length, 0) + 1000);
  });

  it('replays a partner key with its first decision, refuses it for another application, and scopes it to the partner', async () => {
    const [store] = await trail(1);
    const first = auditBatch({ caller: 'acme', keys: ['order-1', null] });
    expect(await store.recordBatch(first)).toEqual([{ kind: 'stored' }, { kind: 'stored' }]);

    const replay = auditBatch({ caller: 'acme', keys: ['order-1'] });
    expect(await store.recordBatch(replay)).toEqual([{ kind: 'replayed', decision: first.decisions[0] }]);
    const reused = auditBatch({ caller: 'acme', keys: ['order-1'], hashes: ['another application'] });
    expect(await store.recordBatch(reused)).toEqual([{ kind: 'key-reused' }]);
    // another partner, and the keyless scope, have keys of their own
    expect(await store.recordBatch(auditBatch({ caller: 'globex', keys: ['order-1'] }))).toEqual([{ kind: 'stored' }]);
    expect(await store.recordBatch(auditBatch({ caller: null, keys: ['order-1'] }))).toEqual([{ kind: 'stored' }]);

    const found = await store.findByKeys('acme', ['order-1', 'order-2']);
    expect([...found.keys()]).toEqual(['order-1']);
    expect(found.get('order-1')).toEqual({ decision: first.decisions[0], inputHash: 'hash-of-order-1' });
    expect((await store.findByKeys('initech', ['order-1'])).size).toBe(0);
    // the losing decisions were computed, never indexed: one decision per partner and key
    expect(await store.getDecision(replay.decisions[0].id)).toBeUndefined();
    expect(await store.count()).toBe(4);
  });

  it('gives a key to exactly one of two replicas racing for it', async () => {
    const [a, b] = await trail(2);
    const keys = Array.from({ length: 40 }, (_, n) => `race-${n}`);
    // each replica records every key, in batches of 4, all at once; half the keys in reverse order
    const batchesOf = (order: string[]) =>
      Array.from({ length: order.length / 4 }, (_, n) => auditBatch({ caller: 'acme', keys: order.slice(n * 4, n * 4 + 4) }));
    const fromA = batchesOf(keys);
    const fromB = batchesOf([...keys].reverse());
    const results = await Promise.all([...fromA.map((x) => a.recordBatch(x)), ...fromB.map((x) => b.recordBatch(x))]);
    const all = [...fromA, ...fromB].flatMap((batch, n) => batch.items.map((item, i) => ({ item, result: results[n][i] })));
    for (const key of keys) {
      const outcomes = all.filter((x) => x.item.idempotencyKey === key);
      expect(outcomes.map((x) => x.result.kind).sort(), key).toEqual(['replayed', 'stored']);
      const stored = outcomes.find((x) => x.result.kind === 'stored')!;
      const replayed = outcomes.find((x) => x.result.kind === 'replayed')!;
      expect(replayed.result).toEqual({ kind: 'replayed', decision: stored.item.decision });
    }
    expect(await a.count()).toBe(40);
    expect((await b.findByKeys('acme', keys)).size).toBe(40);
  });

  it('lists the history newest first by keyset pages, scoped to a partner and filtered', async () => {
    const [store] = await trail(1);
    const base = Date.parse('2026-06-01T00:00:00.000Z');
    const batches = Array.from({ length: 12 }, (_, n) =>
      auditBatch({ size: 3, caller: n % 3 === 0 ? 'globex' : 'acme', decidedAt: new Date(base + n * 60_000), otherModel: n === 5 }),
    );
    for (const b of batches) await store.recordBatch(b);
    const newestFirst = [...batches].reverse().flatMap((b) => [...b.decisions].reverse());
    const walk = async (query: Omit<Parameters<AuditStore['listDecisions']>[0], 'after' | 'limit'>, limit: number) => {
      const seen: string[] = [];
      let after: { decidedAt: string; batchId: string; position: number } | undefined;
      for (;;) {
        const page = await store.listDecisions({ ...query, after, limit });
        seen.push(...page.map((d) => d.id));
        if (page.length < limit) return seen;
        const last = page.at(-1)!;
        const dot = last.id.lastIndexOf('.');
        after = { decidedAt: last.decidedAt.toISOString(), batchId: last.id.slice(0, dot), position: Number.parseInt(last.id.slice(dot + 1), 36) };
      }
    };
    expect(await walk({ filter: {} }, 5)).toEqual(newestFirst.map((d) => d.id));
    const all = await store.listDecisions({ filter: {}, limit: 100 });
    expect(all.slice(0, 3)).toEqual(newestFirst.slice(0, 3));
    expect(await walk({ caller: 'globex', filter: {} }, 4)).toEqual(newestFirst.filter((d) => batches.find((b) => b.decisions.includes(d))!.caller === 'globex').map((d) => d.id));
    expect((await store.listDecisions({ filter: { outcome: 'DECLINE' }, limit: 100 })).map((d) => d.outcome)).toEqual(Array(12).fill('DECLINE'));
    const window = await store.listDecisions({ filter: { from: new Date(base + 2 * 60_000), to: new Date(base + 4 * 60_000) }, limit: 100 });
    expect(window.map((d) => d.id)).toEqual([...[...batches[3].decisions].reverse(), ...[...batches[2].decisions].reverse()].map((d) => d.id));
    const ref = batches[7].decisions[1].applicationRef!;
    expect((await store.listDecisions({ filter: { applicationRef: ref }, limit: 100 })).map((d) => d.id)).toEqual([batches[7].decisions[1].id]);
    // a decision scored by another model than its batch's (a hot swap mid-batch) is found by its own version
    const other = await store.listDecisions({ filter: { modelVersion: 'other-2.0.0' }, limit: 100 });
    expect(other.map((d) => d.id)).toEqual([batches[5].decisions[2].id, batches[5].decisions[1].id]);
  });

  it('records one review per decision, append-only, from either of two replicas racing for it', async () => {
    const [a, b] = await trail(2);
    const batch = auditBatch({ size: 8, caller: 'acme' });
    await a.recordBatch(batch);
    const review = (reviewer: string) => ({ outcome: 'DECLINE' as const, reasonCodes: ['INCOME'], note: 'checked', reviewer, reviewedAt: new Date() });
    for (const d of batch.decisions) {
      const results = await Promise.all([a.recordReview(d.id, review('officer-a')), b.recordReview(d.id, review('officer-b'))]);
      expect([...results].sort()).toEqual(['already-reviewed', 'stored']);
      const stored = (await b.getDecision(d.id))!.decision.review!;
      expect(stored.reviewer).toBe(results[0] === 'stored' ? 'officer-a' : 'officer-b');
      expect(stored).toMatchObject({ outcome: 'DECLINE', reasonCodes: ['INCOME'], note: 'checked' });
    }
    const reviewed = await a.listDecisions({ filter: { reviewState: 'REVIEWED' }, limit: 100 });
    expect(reviewed).toHaveLength(8);
    expect(reviewed[0].review?.reasonCodes).toEqual(['INCOME']);
  });

  it('settles a key repeated by two batches written together: the first keeps it', async () => {
    const [store] = await trail(1);
    const one = auditBatch({ caller: 'acme', keys: ['same'] });
    const two = auditBatch({ caller: 'acme', keys: ['same'] });
    const [r1, r2] = await Promise.all([store.recordBatch(one), store.recordBatch(two)]);
    expect(r1).toEqual([{ kind: 'stored' }]);
    expect(r2).toEqual([{ kind: 'replayed', decision: one.decisions[0] }]);
  });
});
