import { createServer, type Server } from 'node:http';
import { usePrometheus, createCounter, createHistogram } from '@graphql-yoga/plugin-prometheus';
import type { Plugin } from 'graphql-yoga';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestRecord } from './request-log.js';
import type { BatchReport } from '../model/batcher.js';
import type { DriftMonitor, MonitoringSnapshot } from '../model/drift-monitor.js';
import type { ChallengerReport } from '../model/challenger.js';
import type { ChallengerStatus } from '../decisions/challenger-monitor.js';
import type { ScoringModel } from '../model/scoring-model.js';

/** Paths worth a label of their own; anything else is counted as "other" (bounded label values). */
const KNOWN_PATHS = new Set(['/graphql', '/health', '/ready']);

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const versionOf = (model: ScoringModel): string => `${model.manifest.name}-${model.manifest.version}`;

/**
 * `GET /metrics` on a listener of its own (METRICS_PORT): nothing on the public port can reach it, however a path is
 * spelled (nginx takes `\` as a character; Node's URL parser takes it for `/`).
 */
export function metricsListener(registry: Registry): Server {
  return createServer((request, response) => {
    if (request.method !== 'GET' || new URL(request.url ?? '/', 'http://metrics').pathname !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
}

/**
 * The service's Prometheus metrics, in a registry of its own (one per app), collected by
 * `@graphql-yoga/plugin-prometheus` and served by `metricsListener`. Label values are bounded: no operation names,
 * URLs or client-chosen strings.
 */
/** SQLite's codes, a SQLSTATE, an errno, or the PostgreSQL store's names for node-postgres's own failures */
const AUDIT_FAILURE_CODE = /^(SQLITE_[A-Z_]{1,40}|[0-9A-Z]{5}|E[A-Z]{2,15}|CONNECTION_[A-Z]{5,12}|(CONNECT|QUERY)_TIMEOUT)$/;

export function createMetrics(options: {
  queueDepth: () => number;
  operationsRunning: () => number;
  auditWritable?: () => boolean | undefined;
  /** the drift monitors to export (the serving model's); none with MONITOR=off */
  monitors?: () => readonly DriftMonitor[];
  /** the challenger and its comparison with the served model, undefined without one */
  challenger?: () => ChallengerStatus | undefined;
}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpRequests = new Counter({
    name: 'loan_api_http_requests_total',
    help: 'HTTP requests answered, by method, path and status (refused ones included)',
    labelNames: ['method', 'path', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'loan_api_http_request_duration_seconds',
    help: 'Time from a request arriving to its response leaving, by method, path and status',
    labelNames: ['method', 'path', 'status'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'loan_api_graphql_errors_total',
    help: 'GraphQL errors answered, by extensions.code (request errors and field errors)',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'loan_api_batch_size',
    help: 'Applications per model run',
    labelNames: ['model_version'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'loan_api_queue_wait_seconds',
    help: "Time a batch's oldest application waited between being queued and its model run starting",
    labelNames: ['model_version'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const inference = new Histogram({
    name: 'loan_api_inference_seconds',
    help: 'Duration of one model run (encoding, session.run with explanation rows, decoding)',
    labelNames: ['model_version'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const failedApplications = new Counter({
    name: 'loan_api_scoring_failures_total',
    help: 'Applications that got an error instead of a score from the model run',
    labelNames: ['model_version'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'loan_api_queue_depth',
    help: 'Applications queued for or in a model run now (BATCH_MAX_PENDING caps it)',
    registers: [registry],
    collect() {
      this.set(options.queueDepth());
    },
  });
  new Gauge({
    name: 'loan_api_operations_running',
    help: 'GraphQL operations executing now, those already answered REQUEST_TIMEOUT (504) included',
    registers: [registry],
    collect() {
      this.set(options.operationsRunning());
    },
  });
  new Gauge({
    name: 'loan_api_audit_writable',
    help: 'Whether the audit trail takes writes (1), or its SQLite file or PostgreSQL database cannot take them now (0); absent with AUDIT=off',
    registers: [registry],
    collect() {
      const writable = options.auditWritable?.();
      if (writable === undefined) this.reset();
      else this.set(writable ? 1 : 0);
    },
  });
  const auditWriteFailures = new Counter({
    name: 'loan_api_audit_write_failures_total',
    help: "Audit writes (recovery probes included) that failed, by SQLite's error code, PostgreSQL's SQLSTATE or the socket's errno",
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'loan_api_decisions_total',
    help: 'Decisions made, by outcome and the model version that scored them',
    labelNames: ['outcome', 'model_version'] as const,
    registers: [registry],
  });
  const reviews = new Counter({
    name: 'loan_api_reviews_total',
    help: "Reviews of REFERs recorded by loan officers, by the reviewer's outcome",
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const modelInfo = new Gauge({
    name: 'loan_api_model_info',
    help: 'The model serving decisions (value 1), by version and ONNX sha256',
    labelNames: ['model_version', 'sha256'] as const,
    registers: [registry],
  });
  // Drift, read from the monitors at each scrape. Labels are bounded: the profile's feature names are catalogue names
  // (checked when the model loads), the outcomes a fixed set, the model version the operator's.
  const driftGauge = (name: string, help: string, labelNames: string[], set: (gauge: Gauge, s: MonitoringSnapshot) => void) =>
    new Gauge({
      name,
      help,
      labelNames: [...labelNames, 'model_version'],
      registers: [registry],
      collect() {
        this.reset();
        for (const monitor of options.monitors?.() ?? []) set(this, monitor.snapshot());
      },
    });
  driftGauge(
    'loan_api_drift_psi',
    'Population stability index of each profiled feature (and of probabilityOfDefault) over the window against the training profile; absent until the window holds one slice',
    ['feature'],
    (gauge, s) => {
      for (const f of [...s.features, ...(s.score ? [s.score] : [])]) {
        if (f.psi !== null) gauge.set({ feature: f.feature, model_version: s.modelVersion }, f.psi);
      }
    },
  );
  driftGauge('loan_api_outcome_rate', "Share of the window's decisions with each outcome (policy included)", ['outcome'], (gauge, s) => {
    if (s.outcomes.some((o) => o.count > 0)) for (const o of s.outcomes) gauge.set({ outcome: o.outcome, model_version: s.modelVersion }, o.rate);
  });
  driftGauge('loan_api_mean_probability_of_default', "Mean predicted probability of default over the window", [], (gauge, s) => {
    if (s.meanProbabilityOfDefault !== null) gauge.set({ model_version: s.modelVersion }, s.meanProbabilityOfDefault);
  });
  driftGauge('loan_api_drift_window_applications', 'Applications in the drift window (MONITOR_WINDOW at most)', [], (gauge, s) =>
    gauge.set({ model_version: s.modelVersion }, s.window.applications),
  );
  driftGauge('loan_api_drift_window_age_seconds', 'Age of the oldest application slice in the drift window', [], (gauge, s) =>
    gauge.set({ model_version: s.modelVersion }, s.window.ageSeconds),
  );
  const challengerInfo = new Gauge({
    name: 'loan_api_challenger_info',
    help: 'The challenger scoring every batch beside the served model (value 1), by version and ONNX sha256; absent without one',
    labelNames: ['model_version', 'sha256'] as const,
    registers: [registry],
  });
  // labelled by the challenger's version: a gauge without labels would show 0 when there is nothing to show
  const challengerGauge = (name: string, help: string, value: (s: ChallengerStatus) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['model_version'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const status = options.challenger?.();
        const v = status && value(status);
        if (v !== undefined && v !== null) this.set({ model_version: `${status!.name}-${status!.version}` }, v);
      },
    });
  challengerGauge(
    'loan_api_challenger_agreement_rate',
    "Share of the window's decisions (MONITOR_WINDOW) whose challenger outcome equals the decided one, by the challenger's version; absent before the first",
    (s) => s.agreementRate,
  );
  challengerGauge(
    'loan_api_challenger_mean_probability_difference',
    "Mean of (challenger − served) probability of default over the window's decisions, by the challenger's version; absent before the first",
    (s) => s.meanProbabilityDifference,
  );
  challengerGauge('loan_api_challenger_window_applications', "Decisions in the challenger's comparison window now, by its version", (s) => s.applications);
  const challengerFailures = new Counter({
    name: 'loan_api_challenger_failures_total',
    help: 'Applications the challenger failed to score (a run that failed, a NaN, a feature it cannot encode); no decision fails for it',
    labelNames: ['model_version'] as const,
    registers: [registry],
  });
  const challengerInference = new Histogram({
    name: 'loan_api_challenger_inference_seconds',
    help: "Duration of the challenger's run on a batch (one row per application, beside the served model's run)",
    labelNames: ['model_version'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'loan_api_model_reloads_total',
    help: 'Hot model reloads, by result (swapped or refused)',
    labelNames: ['result'] as const,
    registers: [registry],
  });

  const operationType = (params: { operationType?: string }) => ({ operationType: params.operationType ?? 'unknown' });
  const prometheus = usePrometheus({
    registry,
    // served on METRICS_PORT by metricsListener, never on the public port
    endpoint: false,
    skipIntrospection: true,
    metrics: {
      graphql_envelop_request: createCounter({
        registry,
        counter: { name: 'graphql_envelop_request', help: 'GraphQL operations executed, by type', labelNames: ['operationType'] },
        fillLabelsFn: operationType,
      }),
      graphql_envelop_request_duration: createHistogram({
        registry,
        histogram: {
          name: 'graphql_envelop_request_duration',
          help: 'GraphQL operation time (parse to result), by type',
          labelNames: ['operationType'],
          buckets: SECONDS,
        },
        fillLabelsFn: operationType,
      }),
      graphql_envelop_error_result: createCounter({
        registry,
        counter: { name: 'graphql_envelop_error_result', help: 'Operations that failed, by phase', labelNames: ['phase'] },
        fillLabelsFn: (params) => ({ phase: (params as { errorPhase?: string }).errorPhase ?? 'unknown' }),
      }),
      // the plugin's own HTTP histogram labels the full URL (a GET's query string can carry variables): replaced
      // by loan_api_http_request_duration_seconds
      graphql_yoga_http_duration: false,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_execute_resolver: false,
    },
  });

  return {
    registry,
    plugins: [prometheus] as Plugin[],
    /** feeds one finished HTTP request */
    requestFinished(record: RequestRecord, request: Request, status: number) {
      const path = new URL(request.url).pathname;
      const labels = { method: request.method, path: KNOWN_PATHS.has(path) ? path : 'other', status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, (performance.now() - record.startedAt) / 1000);
      for (const code of record.codes) errors.inc({ code: /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'OTHER' });
    },
    /** the batcher's onBatch */
    onBatch(report: BatchReport) {
      const labels = { model_version: report.modelVersion ?? 'none' };
      batchSize.observe(labels, report.size);
      queueWait.observe(labels, report.queueWaitMs / 1000);
      inference.observe(labels, report.inferenceMs / 1000);
      if (report.failed > 0) failedApplications.inc(labels, report.failed);
    },
    /** the decision service's onDecided: counts one new decision (an idempotent replay is not one) */
    recordDecision(decision: { outcome: string; modelVersion: string }) {
      decisions.inc({ outcome: decision.outcome, model_version: decision.modelVersion });
    },
    /** the decision service's onReviewed: counts one recorded review */
    recordReview(review: { outcome: string }) {
      reviews.inc({ outcome: review.outcome });
    },
    /** the model now serving */
    modelServing(model: ScoringModel) {
      modelInfo.reset();
      modelInfo.set({ model_version: versionOf(model), sha256: model.sha256 }, 1);
    },
    /** the challenger now scoring beside the served model, or none */
    challengerServing(challenger: ScoringModel | undefined) {
      challengerInfo.reset();
      if (challenger) challengerInfo.set({ model_version: versionOf(challenger), sha256: challenger.sha256 }, 1);
    },
    /** the batcher's onChallenger */
    challengerBatch(report: ChallengerReport) {
      const labels = { model_version: report.modelVersion ?? 'none' };
      challengerInference.observe(labels, report.inferenceMs / 1000);
      if (report.failed > 0) challengerFailures.inc(labels, report.failed);
    },
    modelReload(result: 'swapped' | 'refused') {
      reloads.inc({ result });
    },
    /** the audit store's onWriteFailure; each engine's codes are a closed set (anything else counts as OTHER) */
    auditWriteFailure(code: string) {
      auditWriteFailures.inc({ code: AUDIT_FAILURE_CODE.test(code) ? code : 'OTHER' });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
