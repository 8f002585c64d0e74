import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applications, goodApplication } from './helpers/applications.js';
import { post, SCORE_ONE, startTestApp, type TestApp } from './helpers/app.js';
import { ADMIN_KEY, copyModelDir, DEFAULT_MODEL_DIR, KEY_ENV, metricSum, parseMetrics, PARTNER_KEY, scrapeMetricsText } from './helpers/ops.js';
import { startServerProcess, type ServerProcess } from './helpers/process.js';

const RELOAD = /* GraphQL */ `mutation($dir: String) { reloadModel(dir: $dir) { name version sha256 } }`;
const admin = { 'x-admin-key': ADMIN_KEY };

let v110: string;
let v120: string;
let badManifest: string;
let badOnnx: string;
beforeAll(() => {
  v110 = copyModelDir('1.1.0');
  v120 = copyModelDir('1.2.0');
  badManifest = copyModelDir('9.9.9', 'manifest');
  badOnnx = copyModelDir('9.9.8', 'onnx');
});
afterAll(() => {
  for (const dir of [v110, v120, badManifest, badOnnx]) rmSync(join(dir, '..'), { recursive: true, force: true });
});

const apps: TestApp[] = [];
async function app(env: Record<string, string> = {}) {
  const started = await startTestApp({ ...KEY_ENV, ...env });
  apps.push(started);
  return started;
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
    const { status, json } = await post(a, { query: RELOAD, variables: { dir: v110 } }, admin);
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

  it.each([
    ['a manifest naming an unknown feature', () => badManifest, /model\.json/, 'shoeSize'],
    ['an ONNX file that is not a model', () => badOnnx, /model\.onnx/, 'model.onnx'],
    ['a directory that does not exist', () => join(tmpdir(), 'no-such-model-dir'), /model\.json/, 'cannot be read'],
  ])('refuses %s with MODEL_INVALID naming the problem; the old model keeps serving', async (_, dir, fileRe, problem) => {
    const a = await app();
    const { status, json } = await post(a, { query: RELOAD, variables: { dir: dir() } }, admin);
    expect(status).toBe(422);
    expect(json.data).toBeNull();
    expect(json.errors[0].extensions.code).toBe('MODEL_INVALID');
    expect(json.errors[0].extensions.file).toMatch(fileRe);
    expect(json.errors[0].message).toContain(problem);
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
    const refused = await post(a, { query: RELOAD }, admin);
    expect(refused.json.errors[0].extensions.code).toBe('MODEL_INVALID');
    expect(refused.json.errors[0].message).toContain('MODEL_DIR_FILE');
    expect(await version(a)).toBe('1.2.0');
    rmSync(folder, { recursive: true, force: true });
  });

  it('scores applications queued before the swap with the model in place when their batch starts', async () => {
    const a = await app({ BATCH_WINDOW_MS: '60' });
    const queued = score(a);
    await new Promise((r) => setTimeout(r, 5));
    await a.reloadModel(v110);
    expect((await queued).json.data.scoreApplication.modelVersion).toBe('loan-default-lr-1.1.0');
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
    for (const dir of [v110, v120, badManifest, DEFAULT_MODEL_DIR, v110]) {
      await new Promise((r) => setTimeout(r, 150));
      await a.reloadModel(dir).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 150));
    running = false;
    await Promise.all(workers);
    expect(failed).toBe(0);
    expect(total).toBeGreaterThan(100);
    expect([...seen.keys()].sort()).toEqual(['loan-default-lr-1.0.0', 'loan-default-lr-1.1.0', 'loan-default-lr-1.2.0']);
    expect(await version(a)).toBe('1.1.0');
    console.log(`in-process swap under load: ${total} requests, ${failed} failed, by version ${JSON.stringify(Object.fromEntries(seen))}`);
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
    server = await startServerProcess({ ...KEY_ENV, MODEL_DIR_FILE: file, LOG_LEVEL: 'info' });
    const url = `${server.url}/graphql`;
    const gql = async (body: unknown, headers: Record<string, string> = {}) => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      return { status: response.status, json: await response.json() };
    };
    const served = async () => (await gql({ query: '{ modelInfo { version } }' })).json.data.modelInfo.version;
    const waitFor = async (want: string) => {
      for (let i = 0; i < 100 && (await served()) !== want; i++) await new Promise((r) => setTimeout(r, 50));
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
    await new Promise((r) => setTimeout(r, 300));

    writeFileSync(file, v110);
    server.child.kill('SIGHUP');
    expect(await waitFor('1.1.0')).toBe('1.1.0');
    await new Promise((r) => setTimeout(r, 300));

    const reload = await gql({ query: RELOAD, variables: { dir: v120 } }, admin);
    expect(reload.json.data.reloadModel.version).toBe('1.2.0');
    await new Promise((r) => setTimeout(r, 300));

    writeFileSync(file, badOnnx);
    server.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
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
