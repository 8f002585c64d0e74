import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const envSchema = z
  .object({
    PORT: int(0, 65535).default(8000),
    HOST: z.string().min(1).default('0.0.0.0'),
    MODEL_DIR: z.string().min(1).default('models/loan-default-lr-1.0.0'),
    DATA_DIR: z.string().min(1).default('data'),
    AUDIT: z.enum(['on', 'off']).default('on'),
    AUDIT_DB: z.string().min(1).optional(),
    AUDIT_SYNC: z.enum(['full', 'normal']).default('full'),
    POLICY_FILE: z.string().min(1).default('policy/policy.json'),
    REASON_CODES_FILE: z.string().min(1).default('policy/reason-codes.json'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    BATCH_WINDOW_MS: z.coerce.number().min(0).max(100).default(1),
    BATCH_MAX_SIZE: int(1, 65_536).default(1024),
    BATCH_SCOPE: z.enum(['process', 'request']).default('process'),
    INTRA_OP_THREADS: int(1, 64).default(1),
    BULK_MAX_ITEMS: int(1, 100_000).default(1000),
    HTTP_BATCH_LIMIT: int(1, 1000).default(20),
    MAX_BODY_BYTES: int(1024, 100 * 1024 * 1024).default(2 * 1024 * 1024),
    APPROVE_THRESHOLD: z.coerce.number().gt(0).lt(1).optional(),
    DECLINE_THRESHOLD: z.coerce.number().gt(0).lt(1).optional(),
    SHUTDOWN_GRACE_MS: int(0, 600_000).default(1_000),
    SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(25_000),
    GRAPHIQL: bool.default(true),
    GRAPHQL_JIT: bool.default(true),
    REPLICA_ID: z.string().min(1).optional(),
  })
  .refine(
    (e) => e.APPROVE_THRESHOLD === undefined || e.DECLINE_THRESHOLD === undefined || e.APPROVE_THRESHOLD <= e.DECLINE_THRESHOLD,
    { message: 'APPROVE_THRESHOLD must not exceed DECLINE_THRESHOLD', path: ['APPROVE_THRESHOLD'] },
  );

export type Env = z.input<typeof envSchema>;

/** The project folder (where package.json is), whether running from src/ or from dist/. */
export const APP_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

/** Relative paths in the configuration are taken from the project folder, not from the working directory. */
const fromRoot = (p: string) => path.resolve(APP_ROOT, p);

function toConfig(env: z.output<typeof envSchema>) {
  return {
    http: {
      port: env.PORT,
      host: env.HOST,
      /** largest request body accepted, in bytes; nginx's client_max_body_size matches it */
      maxBodyBytes: env.MAX_BODY_BYTES,
      /** operations accepted in one HTTP batch (a JSON array of operations) */
      httpBatchLimit: env.HTTP_BATCH_LIMIT,
      /** after SIGTERM, how long the replica keeps accepting (unready) before it closes its listener */
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
      /** after SIGTERM, how long in-flight requests may take before the process exits 1 */
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      graphiql: env.GRAPHIQL,
      /** execute through graphql-jit's compiled queries (the whole API suite runs under it) */
      graphqlJit: env.GRAPHQL_JIT,
      replicaId: env.REPLICA_ID ?? `${os.hostname()}:${process.pid}`,
    },
    model: {
      dir: fromRoot(env.MODEL_DIR),
      intraOpNumThreads: env.INTRA_OP_THREADS,
      /** overrides of the manifest's thresholds */
      thresholds: { approve: env.APPROVE_THRESHOLD, decline: env.DECLINE_THRESHOLD },
    },
    batching: {
      windowMs: env.BATCH_WINDOW_MS,
      maxBatchSize: env.BATCH_MAX_SIZE,
      /** process: one batcher for every request (production); request: one per request (the benchmark's baseline) */
      scope: env.BATCH_SCOPE,
    },
    limits: { bulkMaxItems: env.BULK_MAX_ITEMS },
    dataDir: fromRoot(env.DATA_DIR),
    audit: {
      /** off only for benchmarks: without the audit trail there is no decision(id) and no idempotency */
      enabled: env.AUDIT === 'on',
      /** @default "<DATA_DIR>/decisions.db" */
      file: fromRoot(env.AUDIT_DB ?? path.join(env.DATA_DIR, 'decisions.db')),
      /** full: each commit reaches the disk before the answer (survives power loss); normal: survives a process crash */
      sync: env.AUDIT_SYNC,
    },
    policy: { file: fromRoot(env.POLICY_FILE), reasonCodesFile: fromRoot(env.REASON_CODES_FILE) },
    logLevel: env.LOG_LEVEL,
  };
}

export type Config = ReturnType<typeof toConfig>;

export class ConfigError extends Error {}

/** Validates an environment, reporting every problem at once. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(blanksRemoved);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  }
  return toConfig(parsed.data);
}
