import { useGraphQlJit } from '@envelop/graphql-jit';
import { useReadinessCheck } from 'graphql-yoga';
import type { Config } from './config.js';
import type { Context, SharedContext } from './context.js';
import type { AuditStore, AuditStoreEvents } from './decisions/audit/audit-store.js';
import { PostgresAuditStore } from './decisions/audit/postgres-store.js';
import { SqliteAuditStore } from './decisions/audit/sqlite-store.js';
import { DecisionService } from './decisions/decision-service.js';
import { loadPolicy } from './decisions/policy.js';
import type { Logger } from './logger.js';
import { createScoringBatcher } from './model/batcher.js';
import type { ScoringModel } from './model/scoring-model.js';
import { createModelReloader } from './model-reload.js';
import { API_KEY_HEADER, authenticate, KeyVerifier, useApiKeys } from './plugins/auth.js';
import { useApplicationBudget } from './plugins/budget.js';
import { createRequestDeadline } from './plugins/deadline.js';
import { useProductionPlugins } from './plugins/hardening.js';
import { useBodyLimit } from './plugins/limits.js';
import { createMetrics } from './plugins/metrics.js';
import { requestRecord, useRequestLog } from './plugins/request-log.js';
import { useReplicaHeader, useRequestErrorStatus, useServingGate } from './plugins/serving.js';
import { createYogaServer } from './yoga.js';

/** The composition root's live state: the model serving, and where shutdown stands. */
export interface AppState {
  model: ScoringModel | undefined;
  /** shutting down: not ready any more, but still serving what reaches it */
  draining: boolean;
  /** the listener is closed: GraphQL requests on kept-alive connections get 503 so a proxy retries elsewhere */
  refusing: boolean;
}

/**
 * The composition root: reads nothing itself, wires the configuration, the model, the decision service and the HTTP
 * edge's plugins, and hands them to the Yoga instance (src/yoga.ts).
 */
export function createApp(config: Config, logger: Logger) {
  const state: AppState = { model: undefined, draining: false, refusing: false };
  const currentModel = () => {
    if (!state.model) throw new Error('model not loaded');
    return state.model;
  };
  const deadline = createRequestDeadline(config.http.requestTimeoutMs);
  const metrics = createMetrics({
    queueDepth: () => batcher.pending(),
    operationsRunning: () => deadline.running.count,
    auditWritable: () => audit?.writable,
  });
  const batcherOptions = { ...config.batching, maxPending: config.limits.batchMaxPending, onBatch: metrics.onBatch };
  const batcher = createScoringBatcher(currentModel, batcherOptions);
  const reloader = createModelReloader(state, config, logger, { onServing: metrics.modelServing, onReload: metrics.modelReload });
  const verifier = new KeyVerifier(config.auth);
  const { policy, reasonCodes } = loadPolicy(config.policy.file, config.policy.reasonCodesFile);
  const auditEvents: AuditStoreEvents = {
    onWriteFailure: metrics.auditWriteFailure,
    onAvailabilityChange: (unavailable) =>
      unavailable
        ? logger.error({ code: unavailable.code, detail: unavailable.message }, 'audit trail cannot be written: not ready')
        : logger.info('audit trail takes writes again: ready'),
  };
  const audit = createAuditStore(config.audit, auditEvents);
  const decisionPolicy = { policy, reasonCodes, thresholds: config.model.thresholds };
  // decisions are counted from the service's own event, never by wrapping resolvers
  const decisionEvents = { onDecided: metrics.recordDecision, onReviewed: metrics.recordReview };
  const decisions = new DecisionService(batcher.loader, audit, decisionPolicy, decisionEvents);
  const context: SharedContext = {
    config,
    currentModel,
    decisions,
    reloadModel: (dir, requestId) => reloader.reload(dir, requestId),
  };
  // 'request' exists to measure what batching across requests buys (npm run bench); production uses 'process'.
  const contextFor =
    config.batching.scope === 'process'
      ? () => context
      : (): SharedContext => {
          const own = createScoringBatcher(currentModel, batcherOptions);
          return { ...context, decisions: new DecisionService(own.loader, audit, decisionPolicy, decisionEvents) };
        };

  const yoga = createYogaServer({
    config,
    logger,
    // per request: the shared part, plus who is calling, what it may read, the request id and its deadline
    context: (request): Context => {
      const auth = authenticate(verifier, request);
      return {
        ...contextFor(),
        ...auth,
        readScope: !verifier.enforcing || auth.isAdmin || auth.reviewer ? 'all' : auth.caller ? { keyId: auth.caller.keyId } : 'none',
        requestId: requestRecord(request)?.id ?? 'unknown',
        signal: deadline.signalOf(request),
      };
    },
    // with REQUIRE_KEY_FOR_GRAPHIQL the page is not rendered without a key, and useApiKeys answers 401
    graphiqlFor: (request) => {
      const auth = authenticate(verifier, request);
      return !(verifier.enforcing && config.auth.requireKeyForGraphiql && auth.caller === null && auth.reviewer === null);
    },
    plugins: [
      useRequestLog(logger, { onFinished: metrics.requestFinished }),
      useReplicaHeader(config.http.replicaId, state),
      useBodyLimit(config.http.maxBodyBytes),
      ...metrics.plugins,
      // not ready while the audit trail cannot be written either, so a proxy or orchestrator sends traffic elsewhere;
      // the store's own probe writes (not traffic) make it ready again
      useReadinessCheck({
        endpoint: '/ready',
        // which store holds the trail (never where: the URL holds a password), for operators and orchestrators
        check: () => {
          const ready = state.model !== undefined && !state.draining && (audit?.writable ?? true);
          return Response.json({ ready, auditStore: audit?.kind ?? 'off' }, { status: ready ? 200 : 503 });
        },
      }),
      useServingGate(state),
      ...(config.http.graphqlJit ? [useGraphQlJit(), useRequestErrorStatus()] : []),
      useApiKeys(verifier, config.auth),
      useApplicationBudget({
        maxItems: config.limits.bulkMaxItems,
        maxTokens: config.query.maxTokens,
        ratePerSecond: config.limits.ratePerSecond,
        rateWindowSeconds: config.limits.rateWindowSeconds,
        partnerOf: (request) => verifier.caller(request.headers.get(API_KEY_HEADER))?.keyId ?? null,
      }),
      ...useProductionPlugins(config, deadline.plugin),
    ],
  });

  /** Opens the audit trail: a PostgreSQL database is migrated here; an unreachable one rejects with a clear message. */
  async function openAudit(): Promise<void> {
    await audit?.open();
  }

  /** Loads the configured model (MODEL_DIR_FILE's directory, else MODEL_DIR); later calls hot-swap it. */
  function loadModel(): Promise<ScoringModel> {
    return reloader.reload();
  }

  async function close(): Promise<void> {
    await state.model?.release();
    await audit?.close();
  }

  /** Both, ready to serve. */
  async function start(): Promise<void> {
    await Promise.all([openAudit(), loadModel()]);
  }

  return { yoga, state, batcher, audit, decisions, openAudit, loadModel, start, reloadModel: reloader.reload, metrics, close };
}

export type App = ReturnType<typeof createApp>;

/** The trail the configuration asks for: PostgreSQL when AUDIT_DATABASE_URL is set, else the host's SQLite file. */
function createAuditStore(audit: Config['audit'], events: AuditStoreEvents): AuditStore | null {
  if (!audit.enabled) return null;
  if (audit.databaseUrl) {
    return new PostgresAuditStore(audit.databaseUrl, { poolSize: audit.poolSize, timeoutMs: audit.busyTimeoutMs, ...events });
  }
  return new SqliteAuditStore(audit.file, audit.sync, { busyTimeoutMs: audit.busyTimeoutMs, ...events });
}
