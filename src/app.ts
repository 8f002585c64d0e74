import { useGraphQlJit } from '@envelop/graphql-jit';
import { useReadinessCheck } from 'graphql-yoga';
import path from 'node:path';
import { APP_ROOT, type Config } from './config.js';
import type { Context, SharedContext } from './context.js';
import type { AuditStore, AuditStoreEvents } from './decisions/audit/audit-store.js';
import { PostgresAuditStore } from './decisions/audit/postgres-store.js';
import { SqliteAuditStore } from './decisions/audit/sqlite-store.js';
import { ChallengerMonitor } from './decisions/challenger-monitor.js';
import { thresholdsFor, type Decision } from './decisions/decision.js';
import { DecisionService } from './decisions/decision-service.js';
import type { DecisionOutcome } from './decisions/outcome.js';
import { loadPolicy } from './decisions/policy.js';
import type { Logger } from './logger.js';
import { createScoringBatcher } from './model/batcher.js';
import type { DriftAlert, DriftMonitorOptions } from './model/drift-monitor.js';
import type { ChallengerReport } from './model/challenger.js';
import type { ScoringModel } from './model/scoring-model.js';
import { createModelReloader, type ModelChange } from './model-reload.js';
import { API_KEY_HEADER, authenticate, KeyVerifier, useApiKeys } from './plugins/auth.js';
import { useApplicationBudget } from './plugins/budget.js';
import { useConsole } from './plugins/console.js';
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
  /** a second model scoring every batch beside `model`, deciding nothing (CHALLENGER_MODEL_DIR) */
  challenger: ScoringModel | undefined;
  /** shutting down: not ready any more, but still serving what reaches it */
  draining: boolean;
  /** the listener is closed: GraphQL requests on kept-alive connections get 503 so a proxy retries elsewhere */
  refusing: boolean;
}

/** The decided outcomes whose rates the drift monitor keeps over its window. */
const OUTCOMES: readonly DecisionOutcome[] = ['APPROVE', 'REFER', 'DECLINE'];

/**
 * The composition root: reads nothing itself, wires the configuration, the model, the decision service and the HTTP
 * edge's plugins, and hands them to the Yoga instance (src/yoga.ts).
 */
export function createApp(config: Config, logger: Logger) {
  const state: AppState = { model: undefined, challenger: undefined, draining: false, refusing: false };
  const currentModel = () => {
    if (!state.model) throw new Error('model not loaded');
    return state.model;
  };
  const deadline = createRequestDeadline(config.http.requestTimeoutMs);
  const challengerMonitor = new ChallengerMonitor(config.monitoring.window);
  const metrics = createMetrics({
    queueDepth: () => batcher.pending(),
    operationsRunning: () => deadline.running.count,
    auditWritable: () => audit?.writable,
    monitors: () => (state.model?.monitor ? [state.model.monitor] : []),
    challenger: () => challengerMonitor.status(),
  });
  /** which pair the monitor compares: both models serving now */
  const comparePair = () => {
    if (!state.model) return;
    const { model, challenger } = state;
    challengerMonitor.compare(
      { version: `${model.manifest.name}-${model.manifest.version}`, sha256: model.sha256 },
      challenger && {
        name: challenger.manifest.name,
        version: challenger.manifest.version,
        sha256: challenger.sha256,
        thresholds: thresholdsFor(challenger, config.model.thresholds),
      },
    );
  };
  const batcherOptions = {
    ...config.batching,
    maxPending: config.limits.batchMaxPending,
    onBatch: metrics.onBatch,
    getChallenger: () => state.challenger,
    onChallenger: (report: ChallengerReport) => {
      metrics.challengerBatch(report);
      // a burst of failures is logged once, with the first error; decisions go on without the challenger
      const turn = challengerMonitor.batch(report);
      if (turn === 'failing') {
        const detail = { err: report.error, challenger: report.modelVersion, failed: report.failed, of: report.size };
        logger.error(detail, 'challenger failed to score; decisions go on without it');
      } else if (turn === 'recovered') {
        logger.info({ challenger: report.modelVersion }, 'challenger scores again');
      }
    },
  };
  const batcher = createScoringBatcher(currentModel, batcherOptions);
  // each model loaded counts its own drift window; an alert is one warning per feature per window
  const monitor: DriftMonitorOptions | undefined = config.monitoring.enabled
    ? {
        window: config.monitoring.window,
        psiAlert: config.monitoring.psiAlert,
        outcomes: OUTCOMES,
        onAlert: ({ largestShifts, ...alert }: DriftAlert) =>
          logger.warn(
            { ...alert, largestShifts: largestShifts.map(({ bin, trainingShare, windowShare }) => ({ bin, trainingShare, windowShare })) },
            'drift: PSI above MONITOR_PSI_ALERT',
          ),
      }
    : undefined;
  const reloader = createModelReloader(state, config, logger, {
    onServing: (model) => {
      metrics.modelServing(model);
      comparePair();
    },
    onChallenger: (challenger) => {
      metrics.challengerServing(challenger);
      comparePair();
    },
    onReload: metrics.modelReload,
    monitor,
  });
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
  // the outcome rates count the decided outcome (policy included) into the serving model's window
  const countOutcome = (decision: Decision) => {
    const drift = state.model?.monitor;
    if (drift !== undefined && drift.modelVersion === decision.modelVersion) drift.recordOutcome(decision.outcome);
  };
  const decisionEvents = {
    onDecided: (decision: Decision) => {
      metrics.recordDecision(decision);
      countOutcome(decision);
      challengerMonitor.observe(decision);
    },
    onReviewed: metrics.recordReview,
  };
  const decisions = new DecisionService(batcher.loader, audit, decisionPolicy, decisionEvents);
  const context: SharedContext = {
    config,
    currentModel,
    decisions,
    changeModels: (change, requestId) => reloader.change(change, requestId),
    challengerStatus: () => challengerMonitor.status(),
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
      // the review console's page and bundle, built by `npm run build` into dist/console (CONSOLE=false: not served)
      ...(config.http.console ? [useConsole(path.join(APP_ROOT, 'dist', 'console'), logger)] : []),
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

  /**
   * Loads the configured model (MODEL_DIR_FILE's directory, else MODEL_DIR) and challenger (CHALLENGER_MODEL_DIR_FILE's,
   * else CHALLENGER_MODEL_DIR, else none); later calls (SIGHUP) hot-swap both, or neither when one is refused.
   */
  async function loadModel(): Promise<ScoringModel> {
    return (await reloader.change(CONFIGURED)).model;
  }

  async function close(): Promise<void> {
    await state.challenger?.release();
    await state.model?.release();
    await audit?.close();
  }

  /** Both, ready to serve. */
  async function start(): Promise<void> {
    await Promise.all([openAudit(), loadModel()]);
  }

  return {
    yoga,
    state,
    batcher,
    audit,
    decisions,
    openAudit,
    loadModel,
    start,
    reloadModel: reloader.reload,
    changeModels: reloader.change,
    challengerStatus: () => challengerMonitor.status(),
    metrics,
    close,
  };
}

export type App = ReturnType<typeof createApp>;

/** Both slots from the configuration: start-up and SIGHUP. */
const CONFIGURED: ModelChange = { champion: 'configured', challenger: 'configured' };

/** The trail the configuration asks for: PostgreSQL when AUDIT_DATABASE_URL is set, else the host's SQLite file. */
function createAuditStore(audit: Config['audit'], events: AuditStoreEvents): AuditStore | null {
  if (!audit.enabled) return null;
  if (audit.databaseUrl) {
    return new PostgresAuditStore(audit.databaseUrl, { poolSize: audit.poolSize, timeoutMs: audit.busyTimeoutMs, ...events });
  }
  return new SqliteAuditStore(audit.file, audit.sync, { busyTimeoutMs: audit.busyTimeoutMs, ...events });
}
