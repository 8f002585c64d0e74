import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications, goodApplication, riskyApplication } from './helpers/applications.js';
import { holdModelRuns, post, SCORE_MANY, SCORE_ONE, type TestApp } from './helpers/app.js';
import { metricSum, parseMetrics, scrapeMetricsText, startLoggedApp } from './helpers/ops.js';

type LoggedApp = Awaited<ReturnType<typeof startLoggedApp>>;
let app: LoggedApp;
beforeAll(async () => {
  app = await startLoggedApp({ BULK_MAX_ITEMS: '50', BATCH_MAX_PENDING: '60' });
});
afterAll(async () => {
  await app.close();
});

const as = (a: LoggedApp) => a as unknown as TestApp;
const scrape = async (a: LoggedApp) => {
  const { status, contentType, text } = await scrapeMetricsText(a);
  expect(status).toBe(200);
  expect(contentType).toContain('text/plain');
  return parseMetrics(text);
};
const VERSION = 'loan-default-lr-1.0.0';

describe('/metrics', () => {
  it('counts requests, latency and errors by code', async () => {
    const before = await scrape(app);
    await post(as(app), { query: '{ modelInfo { version } }' });
    await post(as(app), { query: '{ nope }' });
    await post(as(app), { query: SCORE_MANY, variables: { inputs: applications(51) } });
    const after = await scrape(app);
    const ok = { method: 'POST', path: '/graphql', status: '200' };
    const answered = (status: string) =>
      metricSum(after, 'loan_api_http_requests_total', { status }) - metricSum(before, 'loan_api_http_requests_total', { status });
    expect(metricSum(after, 'loan_api_http_requests_total', ok) - metricSum(before, 'loan_api_http_requests_total', ok)).toBe(1);
    expect(answered('400')).toBe(1);
    expect(answered('413')).toBe(1);
    expect(metricSum(after, 'loan_api_http_request_duration_seconds_count', ok)).toBeGreaterThanOrEqual(1);
    expect(metricSum(after, 'loan_api_http_request_duration_seconds_sum', ok)).toBeGreaterThan(0);
    const errors = (code: string) =>
      metricSum(after, 'loan_api_graphql_errors_total', { code }) - metricSum(before, 'loan_api_graphql_errors_total', { code });
    expect(errors('GRAPHQL_VALIDATION_FAILED')).toBe(1);
    expect(errors('BATCH_TOO_LARGE')).toBe(1);
    expect(metricSum(after, 'graphql_envelop_request', { operationType: 'query' })).toBeGreaterThanOrEqual(1);
    expect(metricSum(after, 'graphql_envelop_request_duration_count', { operationType: 'query' })).toBeGreaterThanOrEqual(1);
  });

  it('counts refusals that never reach GraphQL (413, 415) by code', async () => {
    const before = await scrape(app);
    await app.yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
    await app.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(100 * 1024 * 1024) },
      body: '{}',
    });
    const after = await scrape(app);
    for (const code of ['UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE']) {
      expect(metricSum(after, 'loan_api_graphql_errors_total', { code }) - metricSum(before, 'loan_api_graphql_errors_total', { code })).toBe(1);
    }
  });

  it('reports batch size, queue wait, inference time and decisions by outcome, with the model version', async () => {
    const before = await scrape(app);
    const { json } = await post(as(app), { query: SCORE_MANY, variables: { inputs: [goodApplication, riskyApplication, ...applications(8)] } });
    const outcomes = json.data.scoreApplications.map((d: { outcome: string }) => d.outcome);
    await post(as(app), { query: SCORE_ONE, variables: { input: riskyApplication } });
    const after = await scrape(app);
    const delta = (name: string, labels: Record<string, string> = {}) => metricSum(after, name, labels) - metricSum(before, name, labels);
    const v = { model_version: VERSION };
    expect(delta('loan_api_batch_size_count', v)).toBe(2);
    expect(delta('loan_api_batch_size_sum', v)).toBe(11);
    expect(delta('loan_api_queue_wait_seconds_count', v)).toBe(2);
    expect(delta('loan_api_inference_seconds_count', v)).toBe(2);
    expect(delta('loan_api_inference_seconds_sum', v)).toBeGreaterThan(0);
    for (const outcome of ['APPROVE', 'REFER', 'DECLINE']) {
      const expected = outcomes.filter((o: string) => o === outcome).length + (outcome === 'DECLINE' ? 1 : 0);
      expect(delta('loan_api_decisions_total', { outcome, ...v }), outcome).toBe(expected);
    }
    expect(delta('loan_api_decisions_total')).toBe(11);
    // an invalid application is not a decision
    await post(as(app), { query: SCORE_ONE, variables: { input: { ...goodApplication, annualIncome: -1 } } });
    expect(metricSum(await scrape(app), 'loan_api_decisions_total')).toBe(metricSum(after, 'loan_api_decisions_total'));
    // an idempotent repeat returns the decision made earlier: one decision, counted once
    const keyed = `mutation($input: LoanApplicationInput!) { scoreApplication(input: $input, idempotencyKey: "metrics-replay") { __typename } }`;
    await post(as(app), { query: keyed, variables: { input: goodApplication } });
    await post(as(app), { query: keyed, variables: { input: goodApplication } });
    expect(metricSum(await scrape(app), 'loan_api_decisions_total')).toBe(metricSum(after, 'loan_api_decisions_total') + 1);
    expect(after.get(`loan_api_model_info{model_version="${VERSION}",sha256="${app.state.model!.sha256}"}`)).toBe(1);
  });

  it('shows the queue depth while applications wait, and the process memory', async () => {
    const slow = await startLoggedApp();
    // the seven applications stay in their model run until released: the depth is 7 for as long as the test looks
    const held = holdModelRuns(slow);
    try {
      const pending = post(as(slow), { query: SCORE_MANY, variables: { inputs: applications(7) } });
      await expect.poll(() => slow.batcher.pending()).toBe(7);
      const during = await scrape(slow);
      expect(during.get('loan_api_queue_depth')).toBe(7);
      held.release();
      expect((await pending).status).toBe(200);
      const after = await scrape(slow);
      expect(after.get('loan_api_queue_depth')).toBe(0);
      expect(after.get('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    } finally {
      held.release();
      await slow.close();
    }
  });

  it('counts SERVICE_OVERLOADED and REQUEST_TIMEOUT refusals', async () => {
    // 2 s: the first request must outlive the refusal of the second (a poll and one in-process request; 400 ms was
    // not always enough on a busy 2-core machine), and the last request waits all of it for its 504
    const tight = await startLoggedApp({ BULK_MAX_ITEMS: '5', BATCH_MAX_PENDING: '5', REQUEST_TIMEOUT_MS: '2000' });
    // model runs are held: the first five applications fill the queue until released, and the last request can only
    // end at its deadline
    let held = holdModelRuns(tight);
    try {
      const first = post(as(tight), { query: SCORE_MANY, variables: { inputs: applications(5) } });
      await expect.poll(() => tight.batcher.pending()).toBe(5);
      expect((await post(as(tight), { query: SCORE_ONE, variables: { input: goodApplication } })).status).toBe(503);
      held.release();
      expect((await first).status).toBe(200);
      held = holdModelRuns(tight);
      const late = await post(as(tight), { query: SCORE_ONE, variables: { input: goodApplication } });
      expect(late.status).toBe(504);
      held.release();
      const metrics = await scrape(tight);
      expect(metricSum(metrics, 'loan_api_graphql_errors_total', { code: 'SERVICE_OVERLOADED' })).toBe(1);
      expect(metricSum(metrics, 'loan_api_graphql_errors_total', { code: 'REQUEST_TIMEOUT' })).toBe(1);
      expect(metricSum(metrics, 'loan_api_http_requests_total', { status: '503' })).toBe(1);
      expect(metricSum(metrics, 'loan_api_http_requests_total', { status: '504' })).toBe(1);
    } finally {
      held.release();
      await tight.close();
    }
  });

  it('gives no client-chosen label values (operation names, paths) a series of their own', async () => {
    for (let i = 0; i < 5; i++) {
      await post(as(app), { query: `query Op${i} { __typename }`, operationName: `Op${i}` });
      await app.yoga.fetch(`http://yoga/random-${i}?q=${i}`);
    }
    const { text } = await scrapeMetricsText(app);
    expect(text).not.toMatch(/Op[0-4]/);
    expect(text).not.toMatch(/random-/);
    expect(text).toMatch(/path="other"/);
  });
});

describe('request logs', () => {
  it('writes one JSON line per request, with the request id from x-request-id echoed back', async () => {
    const start = app.raw.length;
    const response = await post(as(app), { query: '{ modelInfo { version } }', operationName: null }, { 'x-request-id': 'nginx-req-42' });
    expect(response.headers.get('x-request-id')).toBe('nginx-req-42');
    const lines = app.lines().slice(start).filter((l) => l.msg === 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ reqId: 'nginx-req-42', method: 'POST', path: '/graphql', status: 200, operations: ['anonymous'] });
    expect(lines[0].ms).toBeGreaterThan(0);
  });

  it('makes a fresh id when none (or a hostile one) is sent', async () => {
    for (const headers of [{}, { 'x-request-id': 'bad id\twith spaces' }, { 'x-request-id': 'x'.repeat(500) }] as Record<string, string>[]) {
      const start = app.raw.length;
      const response = await post(as(app), { query: '{ __typename }' }, headers);
      const id = response.headers.get('x-request-id');
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(app.lines().slice(start).find((l) => l.msg === 'request')?.reqId).toBe(id);
    }
  });

  it('logs refusals with their code, and errors by code only', async () => {
    const start = app.raw.length;
    await post(as(app), { query: SCORE_ONE, variables: { input: { ...goodApplication, loanPurpose: 'YACHT-FOR-JANE-DOE' } } });
    const line = app.lines().slice(start).find((l) => l.msg === 'request')!;
    expect(line.status).toBe(400);
    expect(line.errors).toEqual(['BAD_USER_INPUT']);
    expect(JSON.stringify(app.raw.slice(start))).not.toContain('JANE-DOE');
  });

  describe('operation names', () => {
    const SSN_NAME = 'John Doe SSN 123-45-6789';
    /** The request line of one request sent by `send`, and every raw line it caused. */
    async function logOf(send: () => Promise<unknown>) {
      const start = app.raw.length;
      await send();
      const raw = app.raw.slice(start);
      const requests = app.lines().slice(start).filter((l) => l.msg === 'request');
      expect(requests).toHaveLength(1);
      return { line: requests[0], raw };
    }

    it('logs a 200 KB name as "invalid", on a short line', async () => {
      const { line, raw } = await logOf(() => post(as(app), { query: '{ __typename }', operationName: 'o'.repeat(200_000) }));
      expect(line.operations).toEqual(['invalid']);
      expect(raw.join('\n').length).toBeLessThan(2048);
    });

    it('logs a name that is not a GraphQL name as "invalid", and nothing of it', async () => {
      const { line, raw } = await logOf(() => post(as(app), { query: '{ __typename }', operationName: SSN_NAME }));
      expect(line.operations).toEqual(['invalid']);
      expect(raw.join('\n')).not.toContain('123-45-6789');
      expect(raw.join('\n')).not.toContain('John Doe');
    });

    it('logs a well-formed name the document does not define (or that names a fragment) as "invalid"', async () => {
      const other = await logOf(() => post(as(app), { query: 'query Real { __typename }', operationName: 'JaneRoe' }));
      expect(other.line.operations).toEqual(['invalid']);
      expect(other.raw.join('\n')).not.toContain('JaneRoe');
      const fragment = await logOf(() =>
        post(as(app), { query: 'query Real { ...JaneRoe } fragment JaneRoe on Query { __typename }', operationName: 'JaneRoe' }),
      );
      expect(fragment.line.operations).toEqual(['invalid']);
      expect(fragment.raw.join('\n')).not.toContain('JaneRoe');
    });

    it('logs a name of more than 64 characters as "invalid", even when the document defines it', async () => {
      const name = `Q${'x'.repeat(64)}`;
      const { line } = await logOf(() => post(as(app), { query: `query ${name} { __typename }`, operationName: name }));
      expect(line.operations).toEqual(['invalid']);
    });

    it('logs a name the document defines, on the first parse and from the parse cache', async () => {
      const body = { query: 'query ModelVersion { modelInfo { version } } query Other { __typename }', operationName: 'ModelVersion' };
      for (let i = 0; i < 2; i++) {
        const { line } = await logOf(() => post(as(app), body));
        expect(line.status).toBe(200);
        expect(line.operations).toEqual(['ModelVersion']);
      }
      // the same document, another of its operations: the name is checked per request, not per document
      expect((await logOf(() => post(as(app), { ...body, operationName: 'Other' }))).line.operations).toEqual(['Other']);
    });

    it('gives each operation of an HTTP batch its own entry, in order', async () => {
      const batch = [
        { query: 'query First { __typename }', operationName: 'First' },
        { query: '{ __typename }' },
        { query: 'query Second { __typename }', operationName: 'NotInTheDocument' },
        { query: '{ __typename }', operationName: SSN_NAME },
        { query: '{ __typename', operationName: 'BrokenDocument' },
        { query: '{ __typename }', operationName: 42 },
        { query: 'query Third { __typename }', operationName: 'Third' },
      ];
      const { line, raw } = await logOf(() => post(as(app), batch));
      expect(line.operations).toEqual(['First', 'anonymous', 'invalid', 'invalid', 'invalid', 'invalid', 'Third']);
      const log = raw.join('\n');
      for (const text of ['NotInTheDocument', '123-45-6789', 'BrokenDocument']) expect(log).not.toContain(text);
    });
  });

  it('never contains applicant data: none of the input values of scored, invalid or bulk requests', async () => {
    const logged = await startLoggedApp({}, 'debug');
    try {
      const applicant = {
        applicationRef: 'REF-Zq81-SECRET',
        annualIncome: 87654.32,
        monthlyDebt: 1234.56,
        loanAmount: 23456.78,
        loanTermMonths: 47,
        loanPurpose: 'MEDICAL',
        creditScore: 733,
        employmentYears: 13.25,
        homeOwnership: 'OWN',
        openCreditLines: 17,
        delinquencies2y: 3,
        revolvingUtilization: 0.4321,
      };
      // fixed request ids, and the time and duration left out below: server-made numbers may contain any digits
      const id = (n: number) => ({ 'x-request-id': `request-${n}` });
      const scored = await post(as(logged), { query: SCORE_ONE, variables: { input: applicant } }, id(1));
      expect(scored.json.data.scoreApplication.__typename).toBe('Decision');
      await post(as(logged), { query: SCORE_ONE, variables: { input: { ...applicant, annualIncome: -87654.32 } } }, id(2));
      await post(as(logged), { query: SCORE_MANY, variables: { inputs: [applicant, { ...applicant, creditScore: 9733 }] } }, id(3));
      await post(as(logged), { query: SCORE_ONE, variables: { input: { ...applicant, creditScore: 'seven hundred 733' } } }, id(4));
      await logged.yoga.fetch(`http://yoga/graphql?query=${encodeURIComponent('{ modelInfo { version } }')}&variables=${encodeURIComponent(JSON.stringify(applicant))}`, {
        headers: id(5),
      });
      const requests = logged.lines().filter((l) => l.msg === 'request');
      expect(requests.map((l) => l.reqId)).toEqual(['request-1', 'request-2', 'request-3', 'request-4', 'request-5']);
      const log = logged
        .lines()
        .map(({ time: _time, ms: _ms, ...rest }) => JSON.stringify(rest))
        .join('\n');
      for (const value of ['REF-Zq81-SECRET', '87654.32', '1234.56', '23456.78', '13.25', '0.4321', '733', 'seven hundred']) {
        expect(log, value).not.toContain(value);
      }
    } finally {
      await logged.close();
    }
  });
});
