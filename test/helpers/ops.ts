import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Registry } from 'prom-client';
import { parseConfig } from '../../src/config.js';
import { metricsListener } from '../../src/plugins/metrics.js';
import { createApp } from '../../src/app.js';
import { ROOT } from './process.js';

export const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');

export const PARTNER_KEY = 'test-partner-key-3f9c2a';
export const OTHER_KEY = 'test-other-key-77b1d0';
export const ADMIN_KEY = 'test-admin-key-c0ffee';
/** API_KEYS / ADMIN_KEY_SHA256 for the keys above */
export const KEY_ENV = {
  API_KEYS: `acme:${sha256(PARTNER_KEY)},globex:${sha256(OTHER_KEY)}`,
  ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
};

export const DEFAULT_MODEL_DIR = join(ROOT, 'models/loan-default-lr-1.0.0');

/**
 * A fresh temporary models directory, for MODELS_DIR. It is in the project folder (under run/, which git ignores)
 * because reloadModel(dir) takes a path relative to the project folder and refuses "..". Remove it after the tests.
 */
export function tempModelsDir(): string {
  const parent = join(ROOT, 'run', 'test-models');
  mkdirSync(parent, { recursive: true });
  return mkdtempSync(join(parent, 'models-'));
}

/** `dir` as reloadModel(dir) takes it: relative to the project folder. */
export const fromProject = (dir: string) => relative(ROOT, dir);

/**
 * A copy of the default model directory in `modelsDir` (default: a fresh tempModelsDir()), with `version` (and
 * optionally a broken file).
 */
export function copyModelDir(version: string, breakIt?: 'manifest' | 'onnx', modelsDir = tempModelsDir()): string {
  const dir = join(modelsDir, `loan-default-lr-${version}`);
  cpSync(DEFAULT_MODEL_DIR, dir, { recursive: true });
  const manifestFile = join(dir, 'model.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  manifest.version = version;
  if (breakIt === 'manifest') manifest.features[0].name = 'shoeSize';
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
  if (breakIt === 'onnx') writeFileSync(join(dir, manifest.onnxFile), 'not an onnx model');
  return dir;
}

/**
 * Model directories in `modelsDir` that lead out of it, each of which reloadModel(dir) must refuse. Most lead to the
 * valid default model, so a missing check shows as a load, not as some other failure.
 */
export function hostileModelDirs(modelsDir: string) {
  const withManifest = (name: string, edit: (manifest: Record<string, unknown>) => void = () => undefined) => {
    const dir = join(modelsDir, name);
    mkdirSync(dir);
    const manifest = JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, 'model.json'), 'utf8'));
    edit(manifest);
    writeFileSync(join(dir, 'model.json'), JSON.stringify(manifest));
    return dir;
  };
  const withOnnx = (name: string) => {
    const dir = join(modelsDir, name);
    mkdirSync(dir);
    copyFileSync(join(DEFAULT_MODEL_DIR, 'model.onnx'), join(dir, 'model.onnx'));
    return dir;
  };
  const dirs = {
    /** a directory symlink to the default model, outside MODELS_DIR */
    dirLink: join(modelsDir, 'dir-link'),
    /** model.json a symlink to /etc/passwd (the answer once quoted its first bytes) */
    manifestLink: withOnnx('manifest-link'),
    /** model.json a symlink to the default model's */
    manifestOutside: withOnnx('manifest-outside'),
    /** the ONNX file a symlink to the default model's */
    onnxLink: withManifest('onnx-link'),
    /** a manifest whose onnxFile is ../../../../etc/shadow */
    onnxUp: withManifest('onnx-up', (m) => (m.onnxFile = '../../../../etc/shadow')),
  };
  symlinkSync(DEFAULT_MODEL_DIR, dirs.dirLink);
  symlinkSync('/etc/passwd', join(dirs.manifestLink, 'model.json'));
  symlinkSync(join(DEFAULT_MODEL_DIR, 'model.json'), join(dirs.manifestOutside, 'model.json'));
  symlinkSync(join(DEFAULT_MODEL_DIR, 'model.onnx'), join(dirs.onnxLink, 'model.onnx'));
  copyFileSync(join(DEFAULT_MODEL_DIR, 'model.onnx'), join(dirs.onnxUp, 'model.onnx'));
  return dirs;
}

/** A test app whose JSON log lines are collected in `lines` (parsed). */
export async function startLoggedApp(env: Record<string, string> = {}, level = 'info') {
  const dataDir = mkdtempSync(join(tmpdir(), 'loan-api-test-'));
  // GRAPHQL_JIT=false npm test runs these apps on plain graphql-js execution too (as startTestApp does)
  const jit = process.env.GRAPHQL_JIT ? { GRAPHQL_JIT: process.env.GRAPHQL_JIT } : {};
  const config = parseConfig({ DATA_DIR: dataDir, ...jit, ...env });
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      raw.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = pino({ level, base: { service: 'loan-api' } }, stream);
  const app = createApp(config, logger);
  await app.loadModel();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { ...app, config, raw, lines: () => raw.map((l) => JSON.parse(l) as Record<string, any>) };
}

/** GET /metrics from the app's own metrics listener (on a free loopback port, closed after). */
export async function scrapeMetricsText(app: { metrics: { registry: Registry } }): Promise<{ status: number; contentType: string; text: string }> {
  const server = metricsListener(app.metrics.registry);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Parses Prometheus text into { 'name{labels}': value }. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** The sum of every series of `name` whose labels include all of `labels`. */
export function metricSum(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, value] of metrics) {
    const brace = key.indexOf('{');
    const metric = brace === -1 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}
