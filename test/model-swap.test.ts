import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { applications, goodApplication } from './helpers/applications.js';
import { post, SCORE_ONE, startTestApp, type TestApp } from './helpers/app.js';
import {
  ADMIN_KEY,
  copyModelDir,
  DEFAULT_MODEL_DIR,
  fromProject,
  hostileModelDirs,
  KEY_ENV,
  metricSum,
  parseMetrics,
  PARTNER_KEY,
  scrapeMetricsText,
  startLoggedApp,
  tempModelsDir,
} from './helpers/ops.js';
import { startServerProcess, type ServerProcess } from './helpers/process.js';

const RELOAD = /* GraphQL */ `mutation($dir: String) { reloadModel(dir: $dir) { name version sha256 } }`;
const admin = { 'x-admin-key': ADMIN_KEY };

/** MODELS_DIR of every app here: reloadModel(dir) loads only from it */
let modelsDir: string;
let v100: string;
let v110: string;
let v120: string;
let badManifest: string;
let badOnnx: string;
beforeAll(() => {
  modelsDir = tempModelsDir();
  v100 = copyModelDir('1.0.0', undefined, modelsDir);
  v110 = copyModelDir('1.1.0', undefined, modelsDir);
  v120 = copyModelDir('1.2.0', undefined, modelsDir);
  badManifest = copyModelDir('9.9.9', 'manifest', modelsDir);
  badOnnx = copyModelDir('9.9.8', 'onnx', modelsDir);
});
afterAll(() => {
  rmSync(modelsDir, { recursive: true, force: true });
});

type LoggedApp = Awaited<ReturnType<typeof startLoggedApp>>;
const apps: TestApp[] = [];
/** An app whose log lines are kept (a refusal's detail is only in the log), with MODELS_DIR = modelsDir. */
async function app(env: Record<string, string> = {}): Promise<LoggedApp> {
  const started = await startLoggedApp({ ...KEY_ENV, MODELS_DIR: modelsDir, ...env });
  apps.push(started);
  return started;
}

/** The one answer every refused reloadModel gets (locations aside); only the request id differs. */
const refusal = (requestId: string) => ({
  data: null,
  errors: [
    {
      message: `Model refused, the old model keeps serving; the server log has the reason under request id ${requestId}`,
      path: ['reloadModel'],
      extensions: { code: 'MODEL_INVALID', requestId },
    },
  ],
});
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const withoutLocations = (json: any) => ({ ...json, errors: json.errors?.map(({ locations: _, ...e }: { locations?: unknown }) => e) });

/** reloadModel(dir) with the admin key and `x-request-id: requestId`; the answer and the log lines it caused. */
async function reloadAs(a: LoggedApp, dir: string | undefined, requestId: string) {
  const start = a.raw.length;
  const { status, json, text } = await post(a, { query: RELOAD, variables: { dir } }, { ...admin, 'x-request-id': requestId });
  const log = a.raw.slice(start).join('\n');
  const refused = a.lines().slice(start).filter((l) => l.msg === 'model reload refused; the old model keeps serving');
  return { status, json, text, log, refused };
}
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
});

const version = async (a: TestApp) => (await post(a, { query: '{ modelInfo { version } }' })).json.data.modelInfo.version;
const score = (a: TestApp) => post(a, { query: SCORE_ONE, variables: { input: goodApplication } }, { 'x-api-key': PARTNER_KEY });

describe('reloadModel', () => {
  it('loads, validates and swaps in a model directory; modelInfo, decisions and metrics follow', async () => {
    const a = await app();
    const old = a.state.model!;
    const { status, json } = await post(a, { query: RELOAD, variables: { dir: fromProject(v110) } }, admin);
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.data.reloadModel).toMatchObject({ name: 'loan-default-lr', version: '1.1.0', sha256: old.sha256 });
    expect(await version(a)).toBe('1.1.0');
    expect((await score(a)).json.data.scoreApplication.modelVersion).toBe('loan-default-lr-1.1.0');
    const metrics = parseMetrics((await scrapeMetricsText(a)).text);
    expect(metricSum(metrics, 'loan_api_model_info', { model_version: 'loan-default-lr-1.1.0' })).toBe(1);
    expect(metricSum(metrics, 'loan_api_model_info', { model_version: 'loan-default-lr-1.0.0' })).toBe(0);
    expect(metricSum(metrics, 'loan_api_model_reloads_total', { result: 'swapped' })).toBe(1);
    expect(metricSum(metrics, 'loan_api_decisions_total', { model_version: 'loan-default-lr-1.1.0' })).toBe(1);
    // the old model is released once its runs are done
    await expect.poll(() => old.predict(new Float32Array(old.features.length), 1).then(() => 'running', () => 'released')).toBe('released');
  });

  it('takes the documented form, a path relative to the project folder inside the default MODELS_DIR', async () => {
    const a = await app({ MODELS_DIR: '' });
    expect(a.config.model.modelsDir).toBe(join(DEFAULT_MODEL_DIR, '..'));
    const { status, json } = await post(a, { query: RELOAD, variables: { dir: 'models/loan-default-lr-1.0.0' } }, admin);
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.data.reloadModel.version).toBe('1.0.0');
    const metrics = parseMetrics((await scrapeMetricsText(a)).text);
    expect(metricSum(metrics, 'loan_api_model_reloads_total', { result: 'swapped' })).toBe(1);
  });

  it.each([
    ['a manifest naming an unknown feature', () => badManifest, 'model.json', 'shoeSize'],
    ['an ONNX file that is not a model', () => badOnnx, 'model.onnx', 'is not a model ONNX Runtime can load'],
    ['a directory that does not exist', () => join(modelsDir, 'no-such-model-dir'), '', 'no-such-model-dir cannot be read (ENOENT)'],
  ])('refuses %s with MODEL_INVALID and one generic answer, the detail in the log; the old model keeps serving', async (_, dir, file, problem) => {
    const a = await app();
    const { status, json, refused } = await reloadAs(a, fromProject(dir()), 'refusal-1');
    expect(status).toBe(422);
    expect(withoutLocations(json)).toEqual(refusal('refusal-1'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 40, requestId: 'refusal-1', dir: fromProject(dir()), serving: '1.0.0' });
    expect(refused[0].err.type).toBe('ModelLoadError');
    expect(refused[0].err.file).toBe(join(dir(), file));
    expect(refused[0].err.message).toContain(problem);
    expect(await version(a)).toBe('1.0.0');
    expect((await score(a)).json.data.scoreApplication.modelVersion).toBe('loan-default-lr-1.0.0');
    const metrics = parseMetrics((await scrapeMetricsText(a)).text);
    expect(metricSum(metrics, 'loan_api_model_reloads_total', { result: 'refused' })).toBe(1);
  });

  it('without dir reloads the configured directory (MODEL_DIR_FILE when set)', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'model-dir-file-'));
    const file = join(folder, 'current');
    writeFileSync(file, `${DEFAULT_MODEL_DIR}\n`);
    const a = await app({ MODEL_DIR_FILE: file });
    expect(await version(a)).toBe('1.0.0');
    writeFileSync(file, `${v120}\n`);
    const { json } = await post(a, { query: RELOAD }, admin);
    expect(json.data.reloadModel.version).toBe('1.2.0');
    writeFileSync(file, '');
    const refused = await reloadAs(a, undefined, 'empty-dir-file');
    expect(withoutLocations(refused.json)).toEqual(refusal('empty-dir-file'));
    expect(refused.refused[0].err.message).toContain('(MODEL_DIR_FILE) must hold exactly one directory path');
    expect(await version(a)).toBe('1.2.0');
    // the configured directory is the operator's choice: it need not be in MODELS_DIR
    writeFileSync(file, DEFAULT_MODEL_DIR);
    expect((await post(a, { query: RELOAD }, admin)).json.data.reloadModel.version).toBe('1.0.0');
    rmSync(folder, { recursive: true, force: true });
  });

  it('scores applications queued before the swap with the model in place when their batch starts', async () => {
    const a = await app({ BATCH_WINDOW_MS: '60' });
    // the batch window's timer is fake: the batch starts when the test says, after the swap, on any machine
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const queued = score(a);
      for (let i = 0; i < 10_000 && a.batcher.pending() === 0; i++) await new Promise((r) => setImmediate(r));
      expect(a.batcher.pending()).toBe(1);
      const batches = a.batcher.stats.batches;
      await a.reloadModel(fromProject(v110));
      // still queued: its batch has not started
      expect(a.batcher.pending()).toBe(1);
      expect(a.batcher.stats.batches).toBe(batches);
      vi.advanceTimersByTime(60);
      expect((await queued).json.data.scoreApplication.modelVersion).toBe('loan-default-lr-1.1.0');
    } finally {
      vi.useRealTimers();
    }
  });

  it('under steady load, swaps cause zero failed requests', async () => {
    const a = await app({ BATCH_WINDOW_MS: '0' });
    const seen = new Map<string, number>();
    let failed = 0;
    let total = 0;
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running && i < 10_000; i++) {
        const input = applications(1 + ((w + i) % 50))[(w + i) % 50] ?? goodApplication;
        const { status, json } = await post(a, { query: SCORE_ONE, variables: { input } }, { 'x-api-key': PARTNER_KEY });
        total++;
        const decision = json?.data?.scoreApplication;
        if (status !== 200 || json.errors || decision?.__typename !== 'Decision') failed++;
        else seen.set(decision.modelVersion, (seen.get(decision.modelVersion) ?? 0) + 1);
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    // each swap comes after 25 more answers, however fast the machine: every version serves some of the load
    const answered = async (n: number) => {
      const mark = total;
      await expect.poll(() => total - mark, { timeout: 30_000 }).toBeGreaterThanOrEqual(n);
    };
    for (const dir of [v110, v120, badManifest, v100, v110]) {
      await answered(25);
      await a.reloadModel(fromProject(dir)).catch(() => undefined);
    }
    await answered(25);
    running = false;
    await Promise.all(workers);
    expect(failed).toBe(0);
    expect(total).toBeGreaterThan(100);
    expect([...seen.keys()].sort()).toEqual(['loan-default-lr-1.0.0', 'loan-default-lr-1.1.0', 'loan-default-lr-1.2.0']);
    expect(await version(a)).toBe('1.1.0');
    console.log(`in-process swap under load: ${total} requests, ${failed} failed, by version ${JSON.stringify(Object.fromEntries(seen))}`);
  });
});

describe('reloadModel stays inside MODELS_DIR', () => {
  let hostile: ReturnType<typeof hostileModelDirs>;
  /** a symlink to v110 that stays inside MODELS_DIR */
  let insideLink: string;
  beforeAll(() => {
    hostile = hostileModelDirs(modelsDir);
    insideLink = join(modelsDir, 'current');
    symlinkSync(v110, insideLink);
  });

  it.each([
    ['a ".." path', () => '../../etc', /has a "\.\." segment/],
    ['a ".." path that starts in MODELS_DIR', () => `${fromProject(modelsDir)}/../../../etc`, /has a "\.\." segment/],
    ['an absolute path (/root)', () => '/root', /is absolute/],
    ['an absolute path (/etc)', () => '/etc', /is absolute/],
    ['an absolute path to a valid model in MODELS_DIR', () => v110, /is absolute/],
    ['a valid model outside MODELS_DIR', () => 'models/loan-default-lr-1.0.0', /is not inside/],
    ['MODELS_DIR itself', () => fromProject(modelsDir), /is not inside/],
    ['a directory symlink leaving MODELS_DIR', () => fromProject(hostile.dirLink), /dir-link resolves to .* which is not inside/],
    ['a model.json symlinked to /etc/passwd', () => fromProject(hostile.manifestLink), /model\.json resolves to \/etc\/passwd, which is not inside its model directory/],
    ['a model.json symlinked out of its directory', () => fromProject(hostile.manifestOutside), /model\.json resolves to .* which is not inside its model directory/],
    ['an ONNX file symlinked out of its directory', () => fromProject(hostile.onnxLink), /model\.onnx resolves to .* which is not inside its model directory/],
    ['a manifest whose onnxFile is ../../../../etc/shadow', () => fromProject(hostile.onnxUp), /onnxFile: must name a file inside the model directory/],
    ['an empty dir', () => ' ', /is empty/],
    ['a NUL character', () => 'models/loan-default-lr-1.0.0\0', /NUL/],
    ['a 100,000-character dir', () => 'm'.repeat(100_000), /has 100000 characters/],
  ])('refuses %s with the answer a missing directory gets; the detail is in the log', async (_, dir, detail) => {
    const a = await app();
    const missing = await reloadAs(a, fromProject(join(modelsDir, 'no-such-model')), 'probe');
    const probe = await reloadAs(a, dir(), 'probe');
    expect(probe.status).toBe(422);
    expect(withoutLocations(probe.json)).toEqual(refusal('probe'));
    expect(probe.text).toBe(missing.text);
    expect(probe.text).not.toContain('root:');
    expect(probe.refused).toHaveLength(1);
    expect(probe.refused[0].requestId).toBe('probe');
    expect(probe.refused[0].err.type).toBe('ModelLoadError');
    expect(probe.refused[0].err.message).toMatch(detail);
    // nothing read from outside reaches the log either
    expect(probe.log).not.toContain('root:');
    expect(probe.log.length).toBeLessThan(10_000);
    expect(await version(a)).toBe('1.0.0');
    expect((await score(a)).json.data.scoreApplication.modelVersion).toBe('loan-default-lr-1.0.0');
  });

  it('follows a symlink that stays inside MODELS_DIR', async () => {
    const a = await app();
    const { status, json } = await post(a, { query: RELOAD, variables: { dir: fromProject(insideLink) } }, admin);
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.data.reloadModel.version).toBe('1.1.0');
  });
});

describe('hot swaps of the server process', () => {
  let server: ServerProcess | undefined;
  afterEach(() => {
    if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    server = undefined;
  });

  it('SIGHUP reloads MODEL_DIR_FILE, the admin mutation loads a named dir, and neither fails a request under load', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'model-dir-file-'));
    const file = join(folder, 'current');
    writeFileSync(file, DEFAULT_MODEL_DIR);
    server = await startServerProcess({ ...KEY_ENV, MODEL_DIR_FILE: file, MODELS_DIR: modelsDir, LOG_LEVEL: 'info' });
    const url = `${server.url}/graphql`;
    const gql = async (body: unknown, headers: Record<string, string> = {}) => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      return { status: response.status, json: await response.json() };
    };
    const served = async () => (await gql({ query: '{ modelInfo { version } }' })).json.data.modelInfo.version;
    const waitFor = async (want: string) => {
      await expect.poll(served, { timeout: 10_000 }).toBe(want);
      return served();
    };

    const seen = new Map<string, number>();
    const failures: string[] = [];
    let total = 0;
    let running = true;
    const worker = async () => {
      for (let i = 0; running && i < 20_000; i++) {
        try {
          const { status, json } = await gql({ query: SCORE_ONE, variables: { input: goodApplication } }, { 'x-api-key': PARTNER_KEY });
          total++;
          const d = json?.data?.scoreApplication;
          if (status !== 200 || d?.__typename !== 'Decision') failures.push(`${status} ${JSON.stringify(json).slice(0, 200)}`);
          else seen.set(d.modelVersion, (seen.get(d.modelVersion) ?? 0) + 1);
        } catch (error) {
          total++;
          failures.push(String(error));
        }
      }
    };
    const workers = Array.from({ length: 6 }, worker);
    // each step waits for 25 answers from the version in place, however fast the machine, not for a time
    const answeredBy = (version: string) =>
      expect.poll(() => seen.get(`loan-default-lr-${version}`) ?? 0, { timeout: 30_000 }).toBeGreaterThanOrEqual(25);
    await answeredBy('1.0.0');

    writeFileSync(file, v110);
    server.child.kill('SIGHUP');
    expect(await waitFor('1.1.0')).toBe('1.1.0');
    await answeredBy('1.1.0');

    const reload = await gql({ query: RELOAD, variables: { dir: fromProject(v120) } }, admin);
    expect(reload.json.data.reloadModel.version).toBe('1.2.0');
    await answeredBy('1.2.0');

    writeFileSync(file, badOnnx);
    const refusals = server.output().split('model reload refused').length;
    server.child.kill('SIGHUP');
    // the refusal has been logged: the reload was tried and the model in place kept
    await expect.poll(() => server!.output().split('model reload refused').length, { timeout: 10_000 }).toBeGreaterThan(refusals);
    expect(await served()).toBe('1.2.0');

    running = false;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(seen.get('loan-default-lr-1.0.0')).toBeGreaterThan(0);
    expect(seen.get('loan-default-lr-1.1.0')).toBeGreaterThan(0);
    expect(seen.get('loan-default-lr-1.2.0')).toBeGreaterThan(0);
    const log = server.output();
    expect(log).toContain('model swapped');
    expect(log).toContain('model reload refused');
    console.log(`server swap under load: ${total} requests, ${failures.length} failed, by version ${JSON.stringify(Object.fromEntries(seen))}`);
    rmSync(folder, { recursive: true, force: true });
  });
});
