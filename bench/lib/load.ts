/**
 * One bounded autocannon run (fixed duration, hard wall-clock cap) against 127.0.0.1, with every response body
 * checked and latencies kept at full (sub-millisecond) resolution, plus the request bodies the benchmarks send.
 */
import autocannon from 'autocannon';
import type { LoanApplication } from '../../src/model/application.js';
import { applications, sampleApplication } from '../../test/helpers/applications.js';
import { SEED_BULK_PATH, SEED_SINGLE_PATH, toSeedApplication } from './seed.js';

export const SINGLE_QUERY =
  'mutation($i: LoanApplicationInput!){ scoreApplication(input:$i){ __typename ... on Decision { id outcome probabilityOfDefault } } }';

/** Bulk asks only for what the raw endpoint answers, so both serialise the same information. */
export const BULK_QUERY =
  'mutation($inputs: [LoanApplicationInput!]!){ scoreApplications(inputs:$inputs){ __typename ... on Decision { probabilityOfDefault } } }';

export const SINGLE_APPLICATION: LoanApplication = { ...sampleApplication, applicationRef: 'bench-1' };

export const singleBody = (): string => JSON.stringify({ query: SINGLE_QUERY, variables: { i: SINGLE_APPLICATION } });
export const bulkBody = (items: number): string => JSON.stringify({ query: BULK_QUERY, variables: { inputs: applications(items) } });

/** The same application and the same bulk as above, in the seed's field names, for its /predict and /predict_batch. */
export const seedSingleBody = (): string => JSON.stringify(toSeedApplication(SINGLE_APPLICATION));
export const seedBulkBody = (items: number): string => JSON.stringify(applications(items).map(toSeedApplication));

/** What a correct answer looks like, cheaply (the full parse is done once per configuration, before the run). */
export type BodyCheck = (body: string) => boolean;
export const isSingleDecision: BodyCheck = (b) => b.includes('"Decision"') && !b.includes('"errors"');
export const isBulkDecisions: BodyCheck = (b) => b.startsWith('{"data":{"scoreApplications":[') && !b.includes('"errors"');
export const isRawScores: BodyCheck = (b) => b.startsWith('[{"probabilityOfDefault":') && !b.includes('null');
export const isSeedPrediction: BodyCheck = (b) => b.startsWith('{"approved":') && b.includes('"probability":');
export const isSeedPredictions: BodyCheck = (b) => b.startsWith('[{"approved":') && !b.includes('null');

/** Parses one answer of the seed fully: throws unless it holds `items` predictions. */
export async function verifySeedOnce(url: string, body: string, items: number): Promise<void> {
  const res = await fetch(`${url}${items === 1 ? SEED_SINGLE_PATH : SEED_BULK_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url} (the seed): HTTP ${res.status} ${text.slice(0, 300)}`);
  const json = JSON.parse(text) as unknown;
  const results = items === 1 ? [json] : json;
  const isPrediction = (r: unknown) =>
    typeof (r as { approved?: unknown })?.approved === 'boolean' && typeof (r as { probability?: unknown })?.probability === 'number';
  if (!Array.isArray(results) || results.length !== items || !results.every(isPrediction)) {
    throw new Error(`${url} (the seed): expected ${items} prediction(s): ${text.slice(0, 300)}`);
  }
}

/** Parses one answer fully: throws unless it holds `items` decisions (or raw scores). */
export async function verifyOnce(url: string, body: string, items: number, kind: 'single' | 'bulk' | 'raw'): Promise<void> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const fail = (why: string) => {
    throw new Error(`${url}: ${why}: HTTP ${res.status} ${text.slice(0, 300)}`);
  };
  if (res.status !== 200) fail('not 200');
  const json = JSON.parse(text) as unknown;
  if (kind === 'raw') {
    if (!Array.isArray(json) || json.length !== items || json.some((r) => typeof r?.probabilityOfDefault !== 'number')) fail('not raw scores');
    return;
  }
  const data = (json as { data?: Record<string, unknown>; errors?: unknown }).data;
  if ((json as { errors?: unknown }).errors !== undefined || !data) fail('GraphQL errors');
  const results = kind === 'single' ? [data!.scoreApplication] : (data!.scoreApplications as unknown[]);
  if (!Array.isArray(results) || results.length !== items) fail(`expected ${items} result(s)`);
  if (results.some((r) => (r as { __typename?: string })?.__typename !== 'Decision')) fail('not every result is a Decision');
}

export interface LoadSpec {
  /** base URL, e.g. http://127.0.0.1:18380 */
  url: string;
  /** @default '/graphql' */
  path?: string;
  body: string;
  /** applications per request */
  items: number;
  connections: number;
  /** run for this long (autocannon's duration mode)... */
  durationS?: number;
  /** ...or send exactly this many requests (spread over the connections) and time how long they take */
  amount?: number;
  /** hard wall-clock cap: the run is stopped (and marked capped) after this long. @default duration/expected + 20 s */
  maxS?: number;
  check: BodyCheck;
}

export interface LoadResult {
  connections: number;
  items: number;
  mode: 'duration' | 'amount';
  /** requests asked for in amount mode */
  amount?: number;
  /** from the start of the run to its last answer, s */
  durationS: number;
  /** stopped by the wall-clock cap */
  capped: boolean;
  /** 2xx responses whose body passed the check */
  ok: number;
  /** anything else: non-2xx, failed body check, socket errors, timeouts */
  failed: number;
  non2xx: number;
  badBody: number;
  errors: number;
  timeouts: number;
  requestsPerSecond: number;
  applicationsPerSecond: number;
  /** good responses that took longer than 2 s (wrk's default time-out, the cluster target's bound), plus time-outs */
  over2s: number;
  /** ms, over the good responses */
  latency: { p50: number; p90: number; p99: number; max: number; mean: number };
  samples: string[];
}

export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  let ok = 0;
  let badBody = 0;
  const samples: string[] = [];
  if ((spec.durationS === undefined) === (spec.amount === undefined)) throw new Error('runLoad needs durationS or amount');
  const started = performance.now();
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.durationS }),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: spec.path ?? '/graphql',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: spec.body,
        onResponse: (status, body) => {
          if (status >= 200 && status < 300 && spec.check(body)) ok++;
          else {
            if (status >= 200 && status < 300) badBody++;
            if (samples.length < 3) samples.push(`${status}: ${body.slice(0, 200)}`);
          }
        },
      },
    ],
  });
  let lastResponseAt = started;
  instance.on('response', (...args: unknown[]) => {
    const [, status, , ms] = args as [unknown, number, number, number];
    lastResponseAt = performance.now();
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  instance.on('reqError', (error: Error) => {
    if (samples.length < 3) samples.push(`request error: ${error.message}`);
  });
  let capped = false;
  const cap = setTimeout(
    () => {
      capped = true;
      instance.stop();
    },
    (spec.maxS ?? (spec.durationS ?? 10) + 20) * 1000,
  );
  let result;
  try {
    result = await instance;
  } finally {
    clearTimeout(cap);
  }
  // Up to the last answer: autocannon notices that an amount-bounded run is complete only on its next 1 s tick,
  // so its own end (and its result.duration) is rounded up to whole seconds.
  const durationS = (lastResponseAt > started ? lastResponseAt - started : performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const mean = latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1);
  return {
    connections: spec.connections,
    items: spec.items,
    mode: spec.amount !== undefined ? 'amount' : 'duration',
    amount: spec.amount,
    durationS,
    capped,
    ok,
    failed: result.non2xx + badBody + result.errors,
    non2xx: result.non2xx,
    badBody,
    errors: result.errors,
    timeouts: result.timeouts,
    requestsPerSecond: ok / durationS,
    applicationsPerSecond: (ok * spec.items) / durationS,
    over2s: latencies.filter((v) => v > 2_000).length + result.timeouts,
    latency: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      max: sorted.length ? sorted[sorted.length - 1] : NaN,
      mean,
    },
    samples,
  };
}

/**
 * The batch-size histogram of /metrics, if the server has one: the first metric whose name contains `batch_size`
 * with both `_sum` and `_count` series (summed over labels). undefined when there is no /metrics or no such metric.
 */
export async function scrapeBatchSize(url: string): Promise<{ name: string; sum: number; count: number } | undefined> {
  let text: string;
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) });
    text = await res.text();
    if (res.status !== 200) return undefined;
  } catch {
    return undefined;
  }
  const series = new Map<string, { sum?: number; count?: number }>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*?)_(sum|count)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || !m[1].includes('batch_size')) continue;
    const entry = series.get(m[1]) ?? {};
    entry[m[2] as 'sum' | 'count'] = (entry[m[2] as 'sum' | 'count'] ?? 0) + Number(m[4]);
    series.set(m[1], entry);
  }
  for (const [name, { sum, count }] of series) if (sum !== undefined && count !== undefined) return { name, sum, count };
  return undefined;
}
