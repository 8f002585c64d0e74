import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `id1:sha256hex,id2:sha256hex` → [{ id, sha256 }]; ids unique, hashes lower-case hex SHA-256 of the key. */
const apiKeys = z
  .string()
  .transform((value, ctx) => {
    const keys: { id: string; sha256: string }[] = [];
    for (const entry of value.split(',').map((e) => e.trim()).filter(Boolean)) {
      const [id, hash, ...rest] = entry.split(':');
      if (rest.length > 0 || !id || !/^[A-Za-z0-9._-]{1,64}$/.test(id) || !hash || !SHA256_HEX.test(hash.toLowerCase())) {
        ctx.addIssue({ code: 'custom', message: `"${entry.slice(0, 80)}" is not id:sha256hex (id of [A-Za-z0-9._-], 64 hex digits)` });
        continue;
      }
      if (keys.some((k) => k.id === id)) ctx.addIssue({ code: 'custom', message: `key id "${id}" is listed twice` });
      keys.push({ id, sha256: hash.toLowerCase() });
    }
    return keys;
  });

/** `https://a.example,http://localhost:5173` → origins, each scheme://host[:port] with no path. */
const origins = z.string().transform((value, ctx) => {
  const list = value.split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of list) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      ctx.addIssue({ code: 'custom', message: `"${origin.slice(0, 80)}" is not an origin like https://app.example.com` });
    }
  }
  return list;
});

/** postgres://user:password@host:port/database; a refusal never repeats the URL, which holds a password. */
const databaseUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.pathname.length > 1;
    } catch {
      return false;
    }
  },
  { message: 'must be a URL like postgres://user:password@host:5432/database (the value is not shown: it may hold a password)' },
);

const envSchema = z
  .object({
    PORT: int(0, 65535).default(8000),
    HOST: z.string().min(1).default('0.0.0.0'),
    MODEL_DIR: z.string().min(1).default('models/loan-default-lr-1.0.0'),
    MODELS_DIR: z.string().min(1).default('models'),
    DATA_DIR: z.string().min(1).default('data'),
    AUDIT: z.enum(['on', 'off']).default('on'),
    AUDIT_DB: z.string().min(1).optional(),
    AUDIT_SYNC: z.enum(['full', 'normal']).default('full'),
    AUDIT_BUSY_TIMEOUT_MS: int(0, 600_000).default(5_000),
    AUDIT_DATABASE_URL: databaseUrl.optional(),
    AUDIT_POOL_SIZE: int(1, 1_000).default(10),
    AUDIT_RETENTION_MONTHS: int(1, 1_200).optional(),
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
    CONSOLE: bool.default(true),
    GRAPHQL_JIT: bool.default(true),
    REPLICA_ID: z.string().min(1).optional(),
    MODEL_DIR_FILE: z.string().min(1).optional(),
    CHALLENGER_MODEL_DIR: z.string().min(1).optional(),
    CHALLENGER_MODEL_DIR_FILE: z.string().min(1).optional(),
    REQUEST_TIMEOUT_MS: int(100, 600_000).default(10_000),
    BATCH_MAX_PENDING: int(1, 10_000_000).default(10_000),
    QUERY_MAX_DEPTH: int(1, 100).default(6),
    QUERY_MAX_ALIASES: int(0, 1000).default(5),
    QUERY_MAX_TOKENS: int(10, 1_000_000).default(1000),
    QUERY_MAX_COST: int(1, 10_000_000).default(25_000),
    QUERY_MAX_DIRECTIVES: int(0, 1000).default(10),
    API_KEYS: apiKeys.optional(),
    REVIEWER_KEYS: apiKeys.optional(),
    REQUIRE_KEY_FOR_QUERIES: bool.default(false),
    REQUIRE_KEY_FOR_GRAPHIQL: bool.default(false),
    ADMIN_KEY_SHA256: z.string().toLowerCase().regex(SHA256_HEX, 'must be 64 hex digits (the SHA-256 of the admin key)').optional(),
    CORS_ORIGINS: origins.optional(),
    INTROSPECTION: bool.default(true),
    METRICS_PORT: int(1, 65535).default(9464),
    METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    SERVER_REQUEST_TIMEOUT_MS: int(1_000, 600_000).default(30_000),
    MAX_CONNECTIONS: int(1, 1_000_000).default(1_024),
    RATE_LIMIT_PER_SECOND: int(0, 10_000_000).default(0),
    RATE_LIMIT_WINDOW_SECONDS: int(1, 3_600).default(10),
    MONITOR: z.enum(['on', 'off']).default('on'),
    MONITOR_WINDOW: int(10, 10_000_000).default(10_000),
    MONITOR_PSI_ALERT: z.coerce.number().gt(0).max(100).default(0.25),
  })
  .refine(
    (e) => e.APPROVE_THRESHOLD === undefined || e.DECLINE_THRESHOLD === undefined || e.APPROVE_THRESHOLD <= e.DECLINE_THRESHOLD,
    { message: 'APPROVE_THRESHOLD must not exceed DECLINE_THRESHOLD', path: ['APPROVE_THRESHOLD'] },
  )
  .refine((e) => e.SERVER_REQUEST_TIMEOUT_MS > e.REQUEST_TIMEOUT_MS, {
    message: 'SERVER_REQUEST_TIMEOUT_MS must exceed REQUEST_TIMEOUT_MS, or the socket is cut before the 504 is sent',
    path: ['SERVER_REQUEST_TIMEOUT_MS'],
  })
  .refine((e) => e.RATE_LIMIT_PER_SECOND === 0 || e.RATE_LIMIT_PER_SECOND * e.RATE_LIMIT_WINDOW_SECONDS >= e.BULK_MAX_ITEMS, {
    message: 'RATE_LIMIT_PER_SECOND × RATE_LIMIT_WINDOW_SECONDS must be at least BULK_MAX_ITEMS, or a full request could never pass',
    path: ['RATE_LIMIT_PER_SECOND'],
  })
  .refine((e) => !(e.REVIEWER_KEYS ?? []).some((r) => (e.API_KEYS ?? []).some((k) => k.id === r.id)), {
    message: 'a key id is listed in both API_KEYS and REVIEWER_KEYS: the audit trail could not tell who acted',
    path: ['REVIEWER_KEYS'],
  })
  .refine((e) => e.BATCH_MAX_PENDING >= e.BULK_MAX_ITEMS, {
    message: 'BATCH_MAX_PENDING must be at least BULK_MAX_ITEMS, or a full scoreApplications could never be admitted',
    path: ['BATCH_MAX_PENDING'],
  });

export type Env = z.input<typeof envSchema>;

/** The project folder (where package.json is), whether running from src/ or from dist/. */
export const APP_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

/** Relative paths in the configuration are taken from the project folder, not from the working directory. */
export const fromRoot = (p: string) => path.resolve(APP_ROOT, p);

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
      /**
       * serve the review console at /console (the page `npm run build` puts in dist/console)
       * @default true
       */
      console: env.CONSOLE,
      /** execute through graphql-jit's compiled queries (the whole API suite runs under it) */
      graphqlJit: env.GRAPHQL_JIT,
      replicaId: env.REPLICA_ID ?? `${os.hostname()}:${process.pid}`,
      /** how long one GraphQL operation may take before it is answered REQUEST_TIMEOUT (504) */
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      /** frontend origins allowed by CORS; empty = no CORS headers (browsers refuse cross-origin reads) */
      corsOrigins: env.CORS_ORIGINS ?? [],
      /** serve schema introspection (off in production hides the schema; GraphiQL needs it) */
      introspection: env.INTROSPECTION,
      /** the port of `/metrics`, never the public one; bound to `metricsHost` */
      metricsPort: env.METRICS_PORT,
      /** @default "127.0.0.1" (a scraper on the same host); 0.0.0.0 for one on the container network */
      metricsHost: env.METRICS_HOST,
      /** Node's whole-request timeout (a slow client's socket is closed after it); above requestTimeoutMs */
      serverRequestTimeoutMs: env.SERVER_REQUEST_TIMEOUT_MS,
      /** open connections one replica accepts at most; beyond, new ones are closed at once */
      maxConnections: env.MAX_CONNECTIONS,
    },
    /** partner and admin keys; only SHA-256 hashes are kept */
    auth: {
      /** partner keys as { id, sha256 }; when any is configured, mutations need a valid `x-api-key` */
      apiKeys: env.API_KEYS ?? [],
      /** reviewer keys as { id, sha256 } (loan officers): read every decision and may review REFERs */
      reviewerKeys: env.REVIEWER_KEYS ?? [],
      /** with keys configured, queries (modelInfo, introspection) need a valid key too */
      requireKeyForQueries: env.REQUIRE_KEY_FOR_QUERIES,
      /** with keys configured, the GraphiQL page needs a valid key too */
      requireKeyForGraphiql: env.REQUIRE_KEY_FOR_GRAPHIQL,
      /** SHA-256 (hex) of the admin key sent as `x-admin-key` for reloadModel; unset = reloadModel always refused */
      adminKeySha256: env.ADMIN_KEY_SHA256,
    },
    /** per-operation limits enforced by graphql-armor before execution */
    query: {
      /** deepest selection nesting (introspection excepted: graphql-js limits its nesting itself) */
      maxDepth: env.QUERY_MAX_DEPTH,
      /** aliases in one operation */
      maxAliases: env.QUERY_MAX_ALIASES,
      /** lexical tokens in one document (variables not counted) */
      maxTokens: env.QUERY_MAX_TOKENS,
      /** graphql-armor's cost estimate of one operation */
      maxCost: env.QUERY_MAX_COST,
      /** directives in one operation */
      maxDirectives: env.QUERY_MAX_DIRECTIVES,
    },
    model: {
      dir: fromRoot(env.MODEL_DIR),
      /**
       * the only place reloadModel(dir) loads from: `dir` must resolve (symlinks followed) inside it; MODEL_DIR and
       * MODEL_DIR_FILE, the operator's own choices, may be elsewhere
       * @default "<project folder>/models"
       */
      modelsDir: fromRoot(env.MODELS_DIR),
      /** a file holding a model directory; when set, start-up and SIGHUP load the directory it names */
      dirFile: env.MODEL_DIR_FILE === undefined ? undefined : fromRoot(env.MODEL_DIR_FILE),
      intraOpNumThreads: env.INTRA_OP_THREADS,
      /** overrides of the manifest's thresholds */
      thresholds: { approve: env.APPROVE_THRESHOLD, decline: env.DECLINE_THRESHOLD },
      /**
       * a second model that scores every batch beside the served one without deciding anything (its probability and
       * outcome go to the audit trail and the comparison to modelInfo.challenger); unset = no challenger
       * @default undefined
       */
      challengerDir: env.CHALLENGER_MODEL_DIR === undefined ? undefined : fromRoot(env.CHALLENGER_MODEL_DIR),
      /** a file holding the challenger's directory (empty: none); when set, start-up and SIGHUP read it, not challengerDir */
      challengerDirFile: env.CHALLENGER_MODEL_DIR_FILE === undefined ? undefined : fromRoot(env.CHALLENGER_MODEL_DIR_FILE),
    },
    batching: {
      windowMs: env.BATCH_WINDOW_MS,
      maxBatchSize: env.BATCH_MAX_SIZE,
      /** process: one batcher for every request (production); request: one per request (the benchmark's baseline) */
      scope: env.BATCH_SCOPE,
    },
    limits: {
      /** applications one HTTP request may ask for, over all its operations, fields and aliases */
      bulkMaxItems: env.BULK_MAX_ITEMS,
      /** applications per second per partner key, counted per replica; 0 = off */
      ratePerSecond: env.RATE_LIMIT_PER_SECOND,
      /** the rate is counted over fixed windows of this many seconds (burst = rate × window) */
      rateWindowSeconds: env.RATE_LIMIT_WINDOW_SECONDS,
      /** applications queued or being scored at most; beyond, requests fail fast with SERVICE_OVERLOADED (503) */
      batchMaxPending: env.BATCH_MAX_PENDING,
    },
    dataDir: fromRoot(env.DATA_DIR),
    audit: {
      /** off only for benchmarks: without the audit trail there is no decision(id) and no idempotency */
      enabled: env.AUDIT === 'on',
      /** @default "<DATA_DIR>/decisions.db" */
      file: fromRoot(env.AUDIT_DB ?? path.join(env.DATA_DIR, 'decisions.db')),
      /** full: each commit reaches the disk before the answer (survives power loss); normal: survives a process crash */
      sync: env.AUDIT_SYNC,
      /**
       * how long a write waits for a lock (SQLite), or for a connection or a statement (PostgreSQL), before the request
       * gets SERVICE_UNAVAILABLE (503); keep it
       * under REQUEST_TIMEOUT_MS, or a locked file is answered REQUEST_TIMEOUT (504) first
       * @default 5000
       */
      busyTimeoutMs: env.AUDIT_BUSY_TIMEOUT_MS,
      /**
       * where the trail is kept: a PostgreSQL database shared by replicas on any number of hosts, or, unset, the
       * SQLite file `file` shared by the replicas of one host
       */
      databaseUrl: env.AUDIT_DATABASE_URL,
      /** PostgreSQL connections per replica */
      poolSize: env.AUDIT_POOL_SIZE,
      /** whole months kept before the current one by `npm run audit:retention`; unset = kept for ever */
      retentionMonths: env.AUDIT_RETENTION_MONTHS,
    },
    policy: { file: fromRoot(env.POLICY_FILE), reasonCodesFile: fromRoot(env.REASON_CODES_FILE) },
    /** live drift against the model's reference profile (docs/operations.md, "Drift") */
    monitoring: {
      /** off only for benchmarks: no counting, no PSI, no outcome rates @default true */
      enabled: env.MONITOR === 'on',
      /**
       * applications in the sliding window, kept as 10 slices (the last 90–100 % of them): a count, not a time, so
       * the PSI's noise floor stays the same at night as at noon; the challenger's agreement rate and mean difference
       * cover the same window @default 10000
       */
      window: env.MONITOR_WINDOW,
      /** a PSI above this logs one warning per feature per window (0.25: the usual "significant shift") @default 0.25 */
      psiAlert: env.MONITOR_PSI_ALERT,
    },
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
