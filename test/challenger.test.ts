/**
 * Issue 14, part 3: a challenger model scores every batch beside the served one, in the same request, and changes
 * nothing that is decided, answered or explained. The audit trail keeps what it would have decided; modelInfo and
 * /metrics compare it with the served model over the window; a failing challenger fails no decision; reloadModel and
 * SIGHUP set and clear it.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChallengerMonitor } from '../src/decisions/challenger-monitor.js';
import type { Decision } from '../src/decisions/decision.js';
import { outcomeFor } from '../src/decisions/outcome.js';
import { evaluatePolicy, loadPolicy, strictestOutcome } from '../src/decisions/policy.js';
import type { LoanApplication } from '../src/model/application.js';
import { ScoringModel } from '../src/model/scoring-model.js';
import { ChallengerLoadError } from '../src/model-reload.js';
import { generateLoanBook } from '../training/synthetic.js';
import { post, SCORE_MANY, SCORE_ONE, startTestAppsClosedAfterAll, type TestApp } from './helpers/app.js';
import { goodApplication } from './helpers/applications.js';
import {
  ADMIN_KEY,
  copyModelDir,
  fromProject,
  KEY_ENV,
  metricSum,
  parseMetrics,
  PARTNER_KEY,
  scrapeMetricsText,
  startLoggedApp,
  tempModelsDir,
} from './helpers/ops.js';
import { ROOT, startServerProcess, type ServerProcess } from './helpers/process.js';

const CHALLENGER_DIR = join(ROOT, 'models/loan-default-lr-1.1.0');
const CHALLENGER_VERSION = 'loan-default-lr-1.1.0';
/** synthetic applications of another seed than the training books': both models see them for the first time */
const sample: LoanApplication[] = generateLoanBook(303, 77).map((row) => row.application);

const CHALLENGER_INFO = /* GraphQL */ `{ modelInfo { version challenger {
  name version sha256 thresholds { approve decline } window applications agreementRate meanProbabilityDifference failures } } }`;
const challengerInfo = async (a: TestApp) => (await post(a, { query: CHALLENGER_INFO })).json.data.modelInfo.challenger;

const startTestApp = startTestAppsClosedAfterAll();
const partner = { 'x-api-key': PARTNER_KEY };
const admin = { 'x-admin-key': ADMIN_KEY };

/** An answer with what differs between two apps by design (decision ids and times) taken out. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const comparable = (json: any) => JSON.parse(JSON.stringify(json, (k, v) => (k === 'id' || k === 'decidedAt' ? undefined : v)));

/** A decision's entry in the audit trail, with what the challenger would have decided as [version, sha256, probability, outcome]. */
type Entry = [unknown, number, number, string, unknown, unknown, unknown, unknown, [string, string, number, string]?];
const entryOf = async (a: TestApp, id: string): Promise<Entry> => {
  const record = (await a.audit!.getRecord(id))!;
  const entry = record.entry as unknown[];
  const c = entry[8] as [number, string, string?, string?] | undefined;
  if (c === undefined) return entry as Entry;
  // the batch's challenger is named once, in the batch's descriptions
  const [version, sha256] = c[2] !== undefined ? [c[2], c[3]!] : (JSON.parse(record.descriptions as string).c as [string, string]);
  return [...entry.slice(0, 8), [version, sha256, c[0], c[1]]] as unknown as Entry;
};

let challenger: ScoringModel;
let policy: ReturnType<typeof loadPolicy>['policy'];
beforeAll(async () => {
  challenger = await ScoringModel.create(CHALLENGER_DIR);
  policy = loadPolicy(join(ROOT, 'policy/policy.json'), join(ROOT, 'policy/reason-codes.json')).policy;
});
afterAll(async () => {
  await challenger.release();
});

/** Agreement rate and mean (challenger − served) probability over recorded entries, as an auditor would compute them. */
function compareEntries(entries: Entry[]) {
  let agree = 0;
  let difference = 0;
  for (const e of entries) {
    if (e[3] === e[8]![3]) agree++;
    difference += e[8]![2] - e[1];
  }
  return { agreementRate: agree / entries.length, meanProbabilityDifference: difference / entries.length };
}

describe('a challenger beside the served model', () => {
  let plain: TestApp;
  let withChallenger: TestApp;
  let answer: { json: any; text: string };
  beforeAll(async () => {
    [plain, withChallenger] = await Promise.all([startTestApp(), startTestApp({ CHALLENGER_MODEL_DIR: CHALLENGER_DIR })]);
    answer = await post(withChallenger, { query: SCORE_MANY, variables: { inputs: sample } }, partner);
  });

  it('changes nothing that is decided, answered or explained', async () => {
    const without = await post(plain, { query: SCORE_MANY, variables: { inputs: sample } }, partner);
    expect(answer.json.errors).toBeUndefined();
    expect(answer.json.data.scoreApplications).toHaveLength(sample.length);
    expect(comparable(answer.json)).toEqual(comparable(without.json));
    // the challenger is nowhere in an answer
    expect(answer.text).not.toContain(CHALLENGER_VERSION);
    for (const input of [goodApplication, sample[5]]) {
      const one = [plain, withChallenger].map((a) => post(a, { query: SCORE_ONE, variables: { input } }, partner));
      const [a, b] = await Promise.all(one);
      expect(comparable(b.json)).toEqual(comparable(a.json));
    }
    // and a decision read back is the one answered
    const id = answer.json.data.scoreApplications[7].id;
    const read = await post(withChallenger, { query: `{ decision(id: "${id}") { id outcome probabilityOfDefault modelVersion reasons { code } } }` }, partner);
    expect(read.json.data.decision).toMatchObject({ id, modelVersion: 'loan-default-lr-1.0.0' });
    expect(read.text).not.toContain(CHALLENGER_VERSION);
  });

  it("records the challenger's probability and the outcome it would have decided beside each decision", async () => {
    const expected = await challenger.probabilities(sample);
    const { approve, decline } = challenger.manifest.thresholds;
    const decisions = answer.json.data.scoreApplications;
    for (let i = 0; i < sample.length; i++) {
      const entry = await entryOf(withChallenger, decisions[i].id);
      // the served model's values, as answered
      expect(entry[1]).toBe(decisions[i].probabilityOfDefault);
      expect(entry[3]).toBe(decisions[i].outcome);
      const [version, sha256, p, outcome] = entry[8]!;
      expect([version, sha256]).toEqual([CHALLENGER_VERSION, challenger.sha256]);
      expect(p).toBeCloseTo(expected[i], 6);
      // the same policy rules, the challenger's own thresholds
      expect(outcome).toBe(strictestOutcome(outcomeFor(p, { approve, decline }), evaluatePolicy(sample[i], policy)));
    }
    // the same record without a challenger has no ninth element
    const plainAnswer = await post(plain, { query: SCORE_ONE, variables: { input: goodApplication } }, partner);
    expect(await entryOf(plain, plainAnswer.json.data.scoreApplication.id)).toHaveLength(6);
  });

  it('reports in modelInfo and /metrics the agreement and mean difference the records show', async () => {
    const a = await startTestApp({ CHALLENGER_MODEL_DIR: CHALLENGER_DIR });
    expect(await challengerInfo(a)).toMatchObject({ version: '1.1.0', applications: 0, agreementRate: null, meanProbabilityDifference: null, failures: 0 });
    const { json } = await post(a, { query: SCORE_MANY, variables: { inputs: sample } }, partner);
    const entries = await Promise.all(json.data.scoreApplications.map((d: { id: string }) => entryOf(a, d.id)));
    const recorded = compareEntries(entries);
    const info = await challengerInfo(a);
    expect(info).toMatchObject({
      name: 'loan-default-lr',
      version: '1.1.0',
      sha256: challenger.sha256,
      thresholds: challenger.manifest.thresholds,
      window: 10_000,
      applications: sample.length,
      failures: 0,
    });
    expect(info.agreementRate).toBeCloseTo(recorded.agreementRate, 12);
    expect(info.meanProbabilityDifference).toBeCloseTo(recorded.meanProbabilityDifference, 12);
    // a genuinely different model: it disagrees now and then
    expect(info.agreementRate).toBeGreaterThan(0.8);
    expect(info.agreementRate).toBeLessThan(1);
    const metrics = parseMetrics((await scrapeMetricsText(a)).text);
    expect(metricSum(metrics, 'loan_api_challenger_info', { model_version: CHALLENGER_VERSION, sha256: challenger.sha256 })).toBe(1);
    expect(metricSum(metrics, 'loan_api_challenger_agreement_rate')).toBeCloseTo(recorded.agreementRate, 12);
    expect(metricSum(metrics, 'loan_api_challenger_mean_probability_difference')).toBeCloseTo(recorded.meanProbabilityDifference, 12);
    expect(metricSum(metrics, 'loan_api_challenger_window_applications')).toBe(sample.length);
    expect(metricSum(metrics, 'loan_api_challenger_failures_total')).toBe(0);
    // without a challenger: null, and no challenger series
    expect(await challengerInfo(plain)).toBeNull();
    const none = parseMetrics((await scrapeMetricsText(plain)).text);
    expect([...none.keys()].filter((k) => k.startsWith('loan_api_challenger_') && !k.includes('_bucket') && !k.includes('_total'))).toEqual([]);
  });

  it('compares over the last MONITOR_WINDOW decisions, forgetting a tenth at a time', async () => {
    const a = await startTestApp({ CHALLENGER_MODEL_DIR: CHALLENGER_DIR, MONITOR_WINDOW: '50' });
    const { json } = await post(a, { query: SCORE_MANY, variables: { inputs: sample } }, partner);
    const info = await challengerInfo(a);
    // 303 decisions in sub-windows of 5: nine full ones and the 3 of the newest
    expect(info).toMatchObject({ window: 50, applications: 48 });
    const last = await Promise.all(json.data.scoreApplications.slice(-48).map((d: { id: string }) => entryOf(a, d.id)));
    const recorded = compareEntries(last);
    expect(info.agreementRate).toBeCloseTo(recorded.agreementRate, 12);
    expect(info.meanProbabilityDifference).toBeCloseTo(recorded.meanProbabilityDifference, 12);
  });

  it('runs in the same batcher dispatch as the served model: one dispatch per request', async () => {
    const before = withChallenger.batcher.stats.batches;
    const runs = withChallenger.state.challenger!.runCount;
    await post(withChallenger, { query: SCORE_MANY, variables: { inputs: sample.slice(0, 40) } }, partner);
    expect(withChallenger.batcher.stats.batches - before).toBe(1);
    expect(withChallenger.state.challenger!.runCount - runs).toBe(1);
  });
});

describe('the challenger monitor', () => {
  const decision = (outcome: Decision['outcome'], p: number, c?: { outcome: Decision['outcome']; p: number; sha256?: string }): Decision =>
    ({
      outcome,
      probabilityOfDefault: p,
      modelVersion: 'm-1',
      challenger: c && { modelVersion: 'c-1', sha256: c.sha256 ?? 'sha-c', probabilityOfDefault: c.p, outcome: c.outcome },
    }) as Decision;
  const identity = { name: 'c', version: '1', sha256: 'sha-c', thresholds: { approve: 0.1, decline: 0.3 } };

  it('sums ten sub-windows on read, and starts over only when either model changes', () => {
    const monitor = new ChallengerMonitor(20);
    expect(monitor.status()).toBeUndefined();
    monitor.compare({ version: 'm-1', sha256: 'sha-m' }, identity);
    // 25 decisions into sub-windows of 2: the first agree, the rest disagree by +0.1
    for (let i = 0; i < 25; i++) monitor.observe(i < 5 ? decision('APPROVE', 0.05, { outcome: 'APPROVE', p: 0.05 }) : decision('APPROVE', 0.05, { outcome: 'REFER', p: 0.15 }));
    // kept: the newest 19 (nine full sub-windows and one of the newest), none of which agree
    expect(monitor.status()).toMatchObject({ applications: 19, agreementRate: 0, window: 20 });
    expect(monitor.status()!.meanProbabilityDifference).toBeCloseTo(0.1, 12);
    // not counted: no challenger values, another challenger's, another served model's
    monitor.observe(decision('APPROVE', 0.05));
    monitor.observe(decision('APPROVE', 0.05, { outcome: 'APPROVE', p: 0.05, sha256: 'sha-other' }));
    monitor.observe({ ...decision('APPROVE', 0.05, { outcome: 'APPROVE', p: 0.05 }), modelVersion: 'm-0' });
    expect(monitor.status()!.applications).toBe(19);
    // the same pair again (a SIGHUP reloading the same files) keeps the window
    monitor.compare({ version: 'm-1', sha256: 'sha-m' }, { ...identity });
    expect(monitor.status()!.applications).toBe(19);
    monitor.compare({ version: 'm-2', sha256: 'sha-m2' }, identity);
    expect(monitor.status()).toMatchObject({ applications: 0, agreementRate: null, meanProbabilityDifference: null });
    monitor.compare({ version: 'm-2', sha256: 'sha-m2' }, undefined);
    expect(monitor.status()).toBeUndefined();
  });

  it('tells the first failure of a burst and the first success after it, and counts failed applications', () => {
    const monitor = new ChallengerMonitor(10);
    monitor.compare({ version: 'm-1', sha256: 'sha-m' }, identity);
    const report = (failed: number) => ({ size: 4, modelVersion: 'c-1', inferenceMs: 1, failed, error: failed ? new Error('x') : undefined });
    expect([report(0), report(4), report(2), report(0), report(0), report(1)].map((r) => monitor.batch(r))).toEqual([
      undefined,
      'failing',
      undefined,
      'recovered',
      undefined,
      'failing',
    ]);
    expect(monitor.status()!.failures).toBe(7);
    // a batch dispatched before a swap reports on its own challenger, not this one
    expect(monitor.batch({ ...report(3), modelVersion: 'c-0' })).toBeUndefined();
    expect(monitor.status()!.failures).toBe(7);
  });
});

describe('a failing challenger fails no decision', () => {
  let plain: TestApp;
  beforeAll(async () => {
    plain = await startTestApp();
  });
  const failuresIn = async (a: TestApp) => metricSum(parseMetrics((await scrapeMetricsText(a)).text), 'loan_api_challenger_failures_total', { model_version: CHALLENGER_VERSION });
  const FAILED = 'challenger failed to score; decisions go on without it';

  it('whose session throws: every decision is made and answered as without it, the failures counted and logged once', async () => {
    const a = await startLoggedApp({ CHALLENGER_MODEL_DIR: CHALLENGER_DIR });
    try {
      // a released session throws on every run, as a broken runtime would
      await a.state.challenger!.release();
      const batches = [sample.slice(0, 100), sample.slice(100, 103)];
      for (const inputs of batches) {
        const [got, want] = await Promise.all([a, plain].map((x) => post(x, { query: SCORE_MANY, variables: { inputs } }, partner)));
        expect(got.status).toBe(200);
        expect(comparable(got.json)).toEqual(comparable(want.json));
        // recorded without challenger values
        expect(await entryOf(a, got.json.data.scoreApplications[0].id)).toHaveLength(6);
      }
      expect((await challengerInfo(a)).failures).toBe(103);
      expect(await failuresIn(a)).toBe(103);
      const logged = a.lines().filter((l) => l.msg === FAILED);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ level: 50, challenger: CHALLENGER_VERSION, failed: 100, of: 100 });
      expect(logged[0].err.message).toContain('has been released');
    } finally {
      await a.close();
    }
  });

  it('whose output is invalid (NaN): the same, and one line when it scores again', async () => {
    const a = await startLoggedApp({ CHALLENGER_MODEL_DIR: CHALLENGER_DIR });
    try {
      const model = a.state.challenger!;
      model.probabilities = async (applications) => new Float32Array(applications.length).fill(NaN);
      for (let i = 0; i < 2; i++) {
        const inputs = sample.slice(i * 10, i * 10 + 10);
        const [got, want] = await Promise.all([a, plain].map((x) => post(x, { query: SCORE_MANY, variables: { inputs } }, partner)));
        expect(comparable(got.json)).toEqual(comparable(want.json));
      }
      expect(await failuresIn(a)).toBe(20);
      delete (model as { probabilities?: unknown }).probabilities;
      const { json } = await post(a, { query: SCORE_MANY, variables: { inputs: sample.slice(0, 10) } }, partner);
      expect((await entryOf(a, json.data.scoreApplications[0].id))[8]![0]).toBe(CHALLENGER_VERSION);
      expect(a.lines().filter((l) => l.msg === FAILED)).toHaveLength(1);
      expect(a.lines().filter((l) => l.msg === 'challenger scores again')).toHaveLength(1);
      expect(await challengerInfo(a)).toMatchObject({ failures: 20, applications: 10 });
    } finally {
      await a.close();
    }
  });
});

describe('setting, clearing and promoting a challenger', () => {
  let modelsDir: string;
  let c110: string;
  let v120: string;
  let badOnnx: string;
  beforeAll(() => {
    modelsDir = tempModelsDir();
    c110 = join(modelsDir, 'loan-default-lr-1.1.0');
    cpSync(CHALLENGER_DIR, c110, { recursive: true });
    v120 = copyModelDir('1.2.0', undefined, modelsDir);
    badOnnx = copyModelDir('9.9.8', 'onnx', modelsDir);
  });
  afterAll(() => {
    rmSync(modelsDir, { recursive: true, force: true });
  });

  const RELOAD = /* GraphQL */ `mutation($dir: String, $challengerDir: String, $clearChallenger: Boolean) {
    reloadModel(dir: $dir, challengerDir: $challengerDir, clearChallenger: $clearChallenger) { version challenger { version applications } } }`;
  const reload = (a: TestApp, variables: Record<string, unknown>, headers: Record<string, string> = admin) => post(a, { query: RELOAD, variables }, headers);

  it('a bad challenger stops the start with one clear message', async () => {
    const error = await startLoggedApp({ CHALLENGER_MODEL_DIR: badOnnx }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ChallengerLoadError);
    expect((error as Error).message).toMatch(/^The challenger cannot be served: .*model\.onnx is not a model ONNX Runtime can load/);
    const file = join(mkdtempSync(join(tmpdir(), 'challenger-file-')), 'challenger');
    writeFileSync(file, 'models/no-such-model\nmodels/another');
    const fromFile = await startLoggedApp({ CHALLENGER_MODEL_DIR_FILE: file }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((fromFile as Error).message).toContain('(CHALLENGER_MODEL_DIR_FILE) must hold exactly one directory path, or nothing');
  });

  it('reloadModel sets it from MODELS_DIR, clears it, and promotes it by a hot swap', async () => {
    const a = await startLoggedApp({ ...KEY_ENV, MODELS_DIR: modelsDir });
    try {
      const champion = a.state.model!;
      const set = await reload(a, { challengerDir: fromProject(c110) });
      expect(set.status, set.text).toBe(200);
      expect(set.json.data.reloadModel).toEqual({ version: '1.0.0', challenger: { version: '1.1.0', applications: 0 } });
      // the served model was not touched
      expect(a.state.model).toBe(champion);
      const scored = await post(a, { query: SCORE_MANY, variables: { inputs: sample.slice(0, 20) } }, partner);
      const entry = await entryOf(a, scored.json.data.scoreApplications[0].id);
      expect(entry[8]![0]).toBe(CHALLENGER_VERSION);

      const cleared = await reload(a, { clearChallenger: true });
      expect(cleared.json.data.reloadModel).toEqual({ version: '1.0.0', challenger: null });
      expect(a.state.model).toBe(champion);
      const after = await post(a, { query: SCORE_ONE, variables: { input: goodApplication } }, partner);
      expect(await entryOf(a, after.json.data.scoreApplication.id)).toHaveLength(6);
      expect(metricSum(parseMetrics((await scrapeMetricsText(a)).text), 'loan_api_challenger_info')).toBe(0);

      // promotion: the challenger's directory as the served model, and no challenger, in one swap
      await reload(a, { challengerDir: fromProject(c110) });
      const promoted = await reload(a, { dir: fromProject(c110), clearChallenger: true });
      expect(promoted.json.data.reloadModel).toEqual({ version: '1.1.0', challenger: null });
      const now = await post(a, { query: SCORE_ONE, variables: { input: sample[0] } }, partner);
      expect(now.json.data.scoreApplication.modelVersion).toBe(CHALLENGER_VERSION);
      expect(now.json.data.scoreApplication.probabilityOfDefault).toBeCloseTo(entry[8]![2], 6);
      const metrics = parseMetrics((await scrapeMetricsText(a)).text);
      expect(metricSum(metrics, 'loan_api_model_info', { model_version: CHALLENGER_VERSION })).toBe(1);
      expect(metricSum(metrics, 'loan_api_model_reloads_total', { result: 'swapped' })).toBe(4);
    } finally {
      await a.close();
    }
  });

  it('refuses a challenger as it refuses a model, and changes both slots or neither', async () => {
    const a = await startLoggedApp({ ...KEY_ENV, MODELS_DIR: modelsDir });
    try {
      const refusedLines = () => a.lines().filter((l) => l.msg === 'model reload refused; the old model keeps serving');
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ challengerDir: fromProject(badOnnx) }, /The challenger cannot be served: .*is not a model ONNX Runtime can load/],
        [{ challengerDir: 'models/loan-default-lr-1.1.0' }, /The challenger cannot be served: .*is not inside/],
        [{ challengerDir: '../../etc' }, /reloadModel challengerDir "\.\.\/\.\.\/etc" has a "\.\." segment/],
        // a good served model with a bad challenger: neither is swapped
        [{ dir: fromProject(v120), challengerDir: fromProject(badOnnx) }, /The challenger cannot be served/],
      ];
      for (const [variables, detail] of cases) {
        const before = refusedLines().length;
        const { status, json } = await reload(a, variables);
        expect(status).toBe(422);
        expect(json.errors[0].extensions.code).toBe('MODEL_INVALID');
        expect(refusedLines()).toHaveLength(before + 1);
        expect(refusedLines().at(-1)!.err.message).toMatch(detail);
        expect((await post(a, { query: CHALLENGER_INFO })).json.data.modelInfo).toEqual({ version: '1.0.0', challenger: null });
      }
      const both = await reload(a, { challengerDir: fromProject(c110), clearChallenger: true });
      expect(both.status).toBe(400);
      expect(both.json.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'clearChallenger' });
      const partnerOnly = await reload(a, { challengerDir: fromProject(c110) }, partner);
      expect(partnerOnly.status).toBe(401);
      expect(a.state.challenger).toBeUndefined();
    } finally {
      await a.close();
    }
  });

  describe('the server process', () => {
    let server: ServerProcess | undefined;
    afterEach(() => {
      if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
      server = undefined;
    });

    it('stops the start with one message when the challenger cannot be served', async () => {
      const error = await startServerProcess({ CHALLENGER_MODEL_DIR: badOnnx }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toContain('server exited with 1');
      expect(error?.message).toContain('challenger model could not be loaded');
      expect(error?.message).toContain('The challenger cannot be served');
    });

    it('SIGHUP sets, clears and keeps the challenger from CHALLENGER_MODEL_DIR_FILE, with no failed request under load', async () => {
      const folder = mkdtempSync(join(tmpdir(), 'challenger-dir-file-'));
      const file = join(folder, 'challenger');
      writeFileSync(file, '');
      server = await startServerProcess({ ...KEY_ENV, CHALLENGER_MODEL_DIR_FILE: file, LOG_LEVEL: 'info' });
      const url = `${server.url}/graphql`;
      const gql = async (body: unknown, headers: Record<string, string> = {}) => {
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
        return { status: response.status, json: await response.json() };
      };
      const challengerVersion = async () => (await gql({ query: CHALLENGER_INFO })).json.data.modelInfo.challenger?.version ?? null;
      expect(await challengerVersion()).toBeNull();

      const failures: string[] = [];
      let answered = 0;
      let running = true;
      const worker = async (w: number) => {
        for (let i = 0; running && i < 20_000; i++) {
          const inputs = sample.slice((w * 7 + i) % 290, ((w * 7 + i) % 290) + 5);
          try {
            const { status, json } = await gql({ query: SCORE_MANY, variables: { inputs } }, partner);
            const decisions = json?.data?.scoreApplications;
            if (status !== 200 || decisions?.length !== 5 || decisions.some((d: { modelVersion: string }) => d.modelVersion !== 'loan-default-lr-1.0.0')) {
              failures.push(`${status} ${JSON.stringify(json).slice(0, 200)}`);
            }
          } catch (error) {
            failures.push(String(error));
          }
          answered++;
        }
      };
      const workers = Array.from({ length: 4 }, (_, w) => worker(w));
      const moreAnswers = async () => {
        const mark = answered;
        await expect.poll(() => answered - mark, { timeout: 30_000 }).toBeGreaterThanOrEqual(20);
      };

      await moreAnswers();
      writeFileSync(file, `${CHALLENGER_DIR}\n`);
      server.child.kill('SIGHUP');
      await expect.poll(challengerVersion, { timeout: 10_000 }).toBe('1.1.0');
      await moreAnswers();
      await expect.poll(async () => (await gql({ query: CHALLENGER_INFO })).json.data.modelInfo.challenger.applications).toBeGreaterThan(0);

      // a directory that cannot be served: refused, the challenger in place kept
      writeFileSync(file, badOnnx);
      const refusals = server.output().split('model reload refused').length;
      server.child.kill('SIGHUP');
      await expect.poll(() => server!.output().split('model reload refused').length, { timeout: 10_000 }).toBeGreaterThan(refusals);
      expect(await challengerVersion()).toBe('1.1.0');
      await moreAnswers();

      // an empty file clears it
      writeFileSync(file, '');
      server.child.kill('SIGHUP');
      await expect.poll(challengerVersion, { timeout: 10_000 }).toBeNull();
      await moreAnswers();

      running = false;
      await Promise.all(workers);
      expect(failures).toEqual([]);
      const log = server.output();
      expect(log).toContain('challenger scoring beside the served model');
      expect(log).toContain('challenger cleared');
      expect(log).toContain('The challenger cannot be served');
      rmSync(folder, { recursive: true, force: true });
    });
  });
});
