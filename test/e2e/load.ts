/**
 * Bounded load for the cluster e2e tests: autocannon with a fixed request count and rate (so the run lasts
 * amount / rate seconds), a hard wall-clock cap, and a check of every response body. Actions (kill a replica,
 * ...) run at given offsets into the run.
 */
import autocannon, { type AutocannonRequest } from 'autocannon';
import { readFileSync } from 'node:fs';
import { sampleApplication } from '../helpers/applications.js';

export const SCORE_MUTATION =
  'mutation($i: LoanApplicationInput!){ scoreApplication(input:$i){ __typename ... on Decision { id outcome probabilityOfDefault } } }';

export const APPLICATION = sampleApplication;

export const SCORE_BODY = JSON.stringify({ query: SCORE_MUTATION, variables: { i: APPLICATION } });

/** The id of the scoreApplication Decision a response body holds; undefined for anything else. */
export function decisionId(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { data?: { scoreApplication?: { __typename?: string; id?: unknown } }; errors?: unknown };
    const result = parsed.data?.scoreApplication;
    return parsed.errors === undefined && result?.__typename === 'Decision' && typeof result.id === 'string' ? result.id : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a response body is a scoreApplication Decision. */
export function isDecision(body: string): boolean {
  return decisionId(body) !== undefined;
}

export interface LoadOptions {
  /** nginx base URL */
  url: string;
  /** total requests */
  amount: number;
  /** requests per second over all connections */
  ratePerSecond: number;
  connections: number;
  /** hard cap: the run is stopped after this long even if requests are outstanding */
  maxDurationMs: number;
  /** things to do during the run, at ms offsets from its start */
  actions?: Array<{ atMs: number; run: () => unknown }>;
  /**
   * Each request's body, built just before it is sent, from its sequence number (0, 1, …; a request re-sent after a
   * connection error gets a new one): e.g. one with an idempotency key of its own. @default SCORE_BODY
   */
  bodyFor?: (n: number) => string;
  /** called with every answer and the sequence number of the request it answers */
  onAnswer?: (n: number, status: number, body: string, headers: Record<string, string | string[]>) => void;
  /**
   * Sending stops once this settles (requests then in flight are dropped, unanswered), or at `amount`, or at
   * `maxDurationMs`, whichever comes first: a scenario that runs beside the load decides how long it lasts.
   */
  until?: Promise<unknown>;
}

export interface LoadReport {
  amount: number;
  /** responses seen by the body check (autocannon sends more than `amount` if some requests errored) */
  responses: number;
  /** 2xx responses whose body is a Decision */
  decisions: number;
  /** non-2xx responses + 2xx responses without a Decision + socket errors + timeouts */
  failed: number;
  non2xx: number;
  notDecision: number;
  errors: number;
  timeouts: number;
  resets: number;
  statuses: Record<string, number>;
  /**
   * the replica that answered each successful response; nginx hides X-Replica-Id from clients, so this is filled from
   * its access log by `attributeReplicas`
   */
  byReplica: Record<string, number>;
  /** the same for every non-successful response (should stay empty) */
  failedByReplica: Record<string, number>;
  /** x-request-id of each successful response, and of each failed one ('(none)' when nginx answered itself) */
  requestIds: { ok: string[]; failed: string[] };
  /** the id of each decision received (one per successful response) */
  decisionIds: string[];
  durationMs: number;
  /** stopped by maxDurationMs */
  capped: boolean;
  /** stopped because `until` settled */
  stoppedByUntil: boolean;
  /** up to 5 failing responses, for the assertion message */
  samples: string[];
  p99Ms: number;
}

/** A response header by name, whatever its case; '(none)' when absent. */
export function header(headers: Record<string, string | string[]>, name: string): string {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(',') : v;
  return '(none)';
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const report: LoadReport = {
    amount: options.amount,
    responses: 0,
    decisions: 0,
    failed: 0,
    non2xx: 0,
    notDecision: 0,
    errors: 0,
    timeouts: 0,
    resets: 0,
    statuses: {},
    byReplica: {},
    failedByReplica: {},
    requestIds: { ok: [], failed: [] },
    decisionIds: [],
    durationMs: 0,
    capped: false,
    stoppedByUntil: false,
    samples: [],
    p99Ms: 0,
  };
  const started = Date.now();
  let sequence = 0;
  const { bodyFor, onAnswer } = options;
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    overallRate: options.ratePerSecond,
    amount: options.amount,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: SCORE_BODY,
        // autocannon keeps one context per connection, and a connection has one request in flight at a time
        ...((bodyFor || onAnswer) && {
          setupRequest: (request: AutocannonRequest, context: Record<string, unknown>) => {
            const n = sequence++;
            context.n = n;
            return { ...request, body: bodyFor ? bodyFor(n) : SCORE_BODY };
          },
        }),
        onResponse: (status, body, context, headers) => {
          onAnswer?.(context.n as number, status, body, headers);
          report.responses++;
          report.statuses[status] = (report.statuses[status] ?? 0) + 1;
          const requestId = header(headers, 'x-request-id');
          const id = status >= 200 && status < 300 ? decisionId(body) : undefined;
          if (id !== undefined) {
            report.decisions++;
            report.requestIds.ok.push(requestId);
            report.decisionIds.push(id);
          } else {
            report.requestIds.failed.push(requestId);
            if (status >= 200 && status < 300) report.notDecision++;
            if (report.samples.length < 5) report.samples.push(`${status} (request ${requestId}): ${body.slice(0, 200)}`);
          }
        },
      },
    ],
  });
  instance.on('reqError', (error: Error) => {
    if (report.samples.length < 5) report.samples.push(`request error: ${error.message}`);
  });
  const actionErrors: unknown[] = [];
  const timers = (options.actions ?? []).map((action) =>
    setTimeout(() => {
      Promise.resolve()
        .then(action.run)
        .catch((error: unknown) => actionErrors.push(error));
    }, action.atMs),
  );
  const cap = setTimeout(() => {
    report.capped = true;
    instance.stop();
  }, options.maxDurationMs);
  let finished = false;
  const stopEarly = () => {
    if (finished) return;
    report.stoppedByUntil = true;
    instance.stop();
  };
  options.until?.then(stopEarly, stopEarly);
  try {
    const result = await instance;
    report.non2xx = result.non2xx;
    report.errors = result.errors;
    report.timeouts = result.timeouts;
    report.resets = result.resets;
    report.p99Ms = result.latency.p99;
  } finally {
    finished = true;
    clearTimeout(cap);
    for (const t of timers) clearTimeout(t);
  }
  report.durationMs = Date.now() - started;
  report.failed = report.non2xx + report.notDecision + report.errors;
  if (actionErrors.length) throw actionErrors[0];
  return report;
}

export interface AccessLogEntry {
  status: number;
  /** every upstream tried, in order ("127.0.0.1:18101") */
  upstreams: string[];
  /** the status of each attempt ("502", "200", "-") */
  upstreamStatuses: string[];
  requestId: string;
  /** X-Replica-Id of the replica that answered ('' when none did) */
  replica: string;
  line: string;
}

/** Parses the loan_api log_format of deploy/nginx.conf.template. */
export function readAccessLog(file: string): AccessLogEntry[] {
  const entries: AccessLogEntry[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /" (\d{3}) \d+ rt=\S+ ua="([^"]*)" us="([^"]*)" urt="[^"]*" rid=(\S+) rep="([^"]*)"/.exec(line);
    if (!m) continue;
    // attempts are separated by ", " (and by " : " after an internal redirect, which this config has none of)
    const split = (s: string) => (s === '-' ? [] : s.split(/\s*[,:]\s+/));
    entries.push({
      status: Number(m[1]),
      upstreams: split(m[2]),
      upstreamStatuses: split(m[3]),
      requestId: m[4],
      replica: m[5] === '-' ? '' : m[5],
      line,
    });
  }
  return entries;
}

/**
 * Fills `byReplica` and `failedByReplica` from nginx's access log: the replica that answered each request id.
 * Returns the request ids not (yet) in the log, so a caller can wait for nginx to write them.
 */
export function attributeReplicas(report: LoadReport, entries: readonly AccessLogEntry[]): string[] {
  const replicaOf = new Map(entries.map((e) => [e.requestId, e.replica || '(nginx)']));
  const missing: string[] = [];
  const count = (ids: string[], into: Record<string, number>) => {
    for (const key of Object.keys(into)) delete into[key];
    for (const id of ids) {
      const replica = id === '(none)' ? '(nginx)' : replicaOf.get(id);
      if (replica === undefined) missing.push(id);
      into[replica ?? '(unknown)'] = (into[replica ?? '(unknown)'] ?? 0) + 1;
    }
  };
  count(report.requestIds.ok, report.byReplica);
  count(report.requestIds.failed, report.failedByReplica);
  return missing;
}
