/**
 * Hostile input against the real server process over HTTP: every case gets its documented 4xx answer (or a typed
 * InvalidApplication), none a 5xx, and afterwards the server still serves with bounded memory.
 */
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications, goodApplication } from './helpers/applications.js';
import { SCORE_MANY, SCORE_ONE, SIX_BULKS } from './helpers/app.js';
import { ADMIN_KEY, fromProject, hostileModelDirs, KEY_ENV, metricSum, parseMetrics, PARTNER_KEY, tempModelsDir } from './helpers/ops.js';
import { startServerProcess, type ServerProcess } from './helpers/process.js';

let server: ServerProcess;
let port: number;
let rssBefore: number;
let serverErrorsBefore: Record<'500' | '503', number>;
/** the server's MODELS_DIR, holding model directories that lead out of it */
let modelsDir: string;
let hostileDirs: ReturnType<typeof hostileModelDirs>;
beforeAll(async () => {
  modelsDir = tempModelsDir();
  hostileDirs = hostileModelDirs(modelsDir);
  // info: some cases check the request log lines
  server = await startServerProcess({ ...KEY_ENV, LOG_LEVEL: 'info', MODELS_DIR: modelsDir });
  port = Number(new URL(server.url).port);
  // warm up, then take the baseline
  for (let i = 0; i < 5; i++) await send({ body: json({ query: SCORE_MANY, variables: { inputs: applications(200) } }) });
  rssBefore = await rss();
  // /ready answers 503 until the model is warm, and startServerProcess polls it: count only what the suite causes.
  const metrics = await scrape();
  serverErrorsBefore = {
    '500': metricSum(metrics, 'loan_api_http_requests_total', { status: '500' }),
    '503': metricSum(metrics, 'loan_api_http_requests_total', { status: '503' }),
  };
});
afterAll(async () => {
  if (server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  rmSync(modelsDir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

interface Sent {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** a Buffer is sent with content-length; an array of chunks is sent chunked (no content-length) */
  body?: Buffer | string | Buffer[];
  key?: string | null;
}

const json = (value: unknown) => JSON.stringify(value);

/** One request over a fresh connection; resolves with the answer even if the server stops reading the upload. */
function send({ method = 'POST', path = '/graphql', headers = {}, body, key = PARTNER_KEY }: Sent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const all: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      // keep-alive: a connection the client announces to close is closed by Node as soon as it answers, even while
      // the client is still uploading (EPIPE); nginx in front behaves like a keep-alive client
      connection: 'keep-alive',
      ...headers,
    };
    if (key !== null && !('x-api-key' in headers)) all['x-api-key'] = key;
    const chunked = Array.isArray(body);
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    if (!chunked && payload) all['content-length'] = String((payload as Buffer).length);
    for (const [k, v] of Object.entries(all)) if (v === '') delete all[k];
    const req = request({ host: '127.0.0.1', port, method, path, headers: all, timeout: 30_000, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        req.destroy();
        const text = Buffer.concat(parts).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json: parsed });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    // the server may answer (413) and close before the upload is done: the answer is what counts
    req.on('error', (error) => setTimeout(() => reject(error), 100));
    if (chunked) {
      (async () => {
        for (const chunk of body as Buffer[]) {
          if (req.destroyed) return;
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(() => undefined);
    } else {
      req.end(payload);
    }
  });
}

async function scrape() {
  return parseMetrics(await (await fetch(`${server.metricsUrl}/metrics`)).text());
}

async function rss(): Promise<number> {
  const metrics = await scrape();
  return metricSum(metrics, 'process_resident_memory_bytes');
}

const code = (r: Reply) => (Array.isArray(r.json) ? undefined : r.json?.errors?.[0]?.extensions?.code);
const scoreOne = (input: unknown, extra: Partial<Sent> = {}) => send({ body: json({ query: SCORE_ONE, variables: { input } }), ...extra });
const invalidFields = (r: Reply) => r.json.data.scoreApplication.fieldErrors.map((e: { field: string; code: string }) => `${e.field}:${e.code}`);

type Case = [name: string, run: () => Promise<Reply>, expectation: (r: Reply) => void | Promise<void>];

/** The server's request log line for `reqId`, once written (its stdout reaches the test asynchronously). */
async function requestLogLine(reqId: string): Promise<{ raw: string; line: Record<string, unknown> }> {
  const find = () => server.output().split('\n').find((l) => l.includes(`"reqId":"${reqId}"`) && l.includes('"msg":"request"'));
  await expect.poll(find, { timeout: 5_000 }).toBeDefined();
  const raw = find()!;
  return { raw, line: JSON.parse(raw) };
}

const expectError = (status: number, errorCode?: string) => (r: Reply) => {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  if (errorCode) expect(code(r), r.text.slice(0, 300)).toBe(errorCode);
};
const expectInvalid = (...fields: string[]) => (r: Reply) => {
  expect(r.status, r.text.slice(0, 300)).toBe(200);
  expect(r.json.data.scoreApplication.__typename).toBe('InvalidApplication');
  expect(invalidFields(r)).toEqual(expect.arrayContaining(fields));
};

const SCORE_ONE_KEYED = /* GraphQL */ `mutation($input: LoanApplicationInput!, $key: String) {
  scoreApplication(input: $input, idempotencyKey: $key) { __typename ... on InvalidApplication { fieldErrors { field code message } } }
}`;
/** reloadModel(dir) with the admin key, under request id `id` */
const reloadDir = (dir: string, id: string) =>
  send({
    headers: { 'x-admin-key': ADMIN_KEY, 'x-request-id': id },
    body: json({ query: 'mutation($dir: String) { reloadModel(dir: $dir) { version } }', variables: { dir } }),
  });
/**
 * A reloadModel refused with exactly the answer a missing directory in MODELS_DIR gets (same request id), which shows
 * nothing of the file system; `detail` is in the server's log under the request id; the old model keeps serving.
 */
const expectRefusedLikeMissing = (id: string, detail: RegExp) => async (r: Reply) => {
  expectError(422, 'MODEL_INVALID')(r);
  const missing = await reloadDir(`${fromProject(modelsDir)}/no-such-model`, id);
  expect(r.text).toBe(missing.text);
  expect(r.text).not.toMatch(/root:|\/etc|\/root|test-models|ENOENT/);
  const refusals = () =>
    server
      .output()
      .split('\n')
      .filter((l) => l.includes(`"requestId":"${id}"`) && l.includes('model reload refused'))
      .map((l) => JSON.parse(l).err.message as string);
  await expect.poll(refusals, { timeout: 5_000 }).toEqual(expect.arrayContaining([expect.stringMatching(detail)]));
  expect(server.output()).not.toContain('root:x:');
  const served = await send({ body: json({ query: '{ modelInfo { version } }' }) });
  expect(served.json.data.modelInfo.version).toBe('1.0.0');
};

const deepQuery = (depth: number) => `{ ${'modelInfo { '.repeat(depth)}name${' }'.repeat(depth)} }`;
const FIVE_MB = 5 * 1024 * 1024;

const cases: Case[] = [
  // malformed JSON
  ['truncated JSON', () => send({ body: '{"query": "{ __typename }"' }), expectError(400, 'BAD_REQUEST')],
  ['an empty body', () => send({ body: '' }), expectError(400)],
  ['JSON null', () => send({ body: 'null' }), expectError(400, 'BAD_REQUEST')],
  ['a JSON number', () => send({ body: '42' }), expectError(400, 'BAD_REQUEST')],
  ['a JSON string', () => send({ body: '"{ __typename }"' }), expectError(400)],
  ['invalid UTF-8', () => send({ body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) }), expectError(400)],
  ['a query that is not a string', () => send({ body: json({ query: 5 }) }), expectError(400)],
  ['no query at all', () => send({ body: json({ variables: {} }) }), expectError(400)],
  ['variables that are a string', () => send({ body: json({ query: SCORE_ONE, variables: 'x' }) }), expectError(400)],
  ['JSON nested 100,000 deep', () => send({ body: `{"query":"{ __typename }","extensions":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}` }), (r) => expect(r.status).toBeLessThan(500)],
  ['unknown top-level parameters', () => send({ body: json({ query: '{ __typename }', evil: true }) }), expectError(400, 'BAD_REQUEST')],
  // wrong content types, methods, paths
  ['text/plain', () => send({ headers: { 'content-type': 'text/plain' }, body: json({ query: '{ __typename }' }) }), expectError(415, 'UNSUPPORTED_MEDIA_TYPE')],
  ['application/xml', () => send({ headers: { 'content-type': 'application/xml' }, body: '<query/>' }), expectError(415, 'UNSUPPORTED_MEDIA_TYPE')],
  ['no content-type', () => send({ headers: { 'content-type': '' }, body: json({ query: '{ __typename }' }) }), expectError(415, 'UNSUPPORTED_MEDIA_TYPE')],
  [
    'a form-encoded mutation',
    () => send({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `query=${encodeURIComponent('mutation { reloadModel { version } }')}` }),
    expectError(415, 'UNSUPPORTED_MEDIA_TYPE'),
  ],
  [
    'a multipart mutation',
    () => {
      const boundary = 'xXxBoundary';
      const body = `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${json({ query: SCORE_ONE, variables: { input: goodApplication } })}\r\n--${boundary}--\r\n`;
      return send({ headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
    },
    expectError(415, 'UNSUPPORTED_MEDIA_TYPE'),
  ],
  [
    'a GET carrying a mutation',
    () => send({ method: 'GET', path: `/graphql?query=${encodeURIComponent(SCORE_ONE)}&variables=${encodeURIComponent(json({ input: goodApplication }))}`, headers: { accept: 'application/json' } }),
    expectError(405),
  ],
  ['PUT', () => send({ method: 'PUT', body: json({ query: '{ __typename }' }) }), expectError(405)],
  ['an unknown path', () => send({ path: '/admin', body: json({ query: '{ __typename }' }) }), expectError(404)],
  // numbers
  ['a huge income (1e308)', () => scoreOne({ ...goodApplication, annualIncome: 1e308 }), expectInvalid('annualIncome:OUT_OF_RANGE')],
  [
    'negative numbers everywhere',
    () => scoreOne({ ...goodApplication, annualIncome: -1, monthlyDebt: -5, loanAmount: -10, employmentYears: -1, openCreditLines: -1, delinquencies2y: -3, revolvingUtilization: -0.5 }),
    expectInvalid('annualIncome:OUT_OF_RANGE', 'monthlyDebt:OUT_OF_RANGE', 'loanAmount:OUT_OF_RANGE', 'delinquencies2y:OUT_OF_RANGE'),
  ],
  ['an Int beyond 32 bits', () => scoreOne({ ...goodApplication, creditScore: 2 ** 40 }), expectError(400, 'BAD_USER_INPUT')],
  ['1e400 (Infinity once parsed)', () => send({ body: json({ query: SCORE_ONE, variables: { input: goodApplication } }).replace('"annualIncome":120000', '"annualIncome":1e400') }), expectError(400, 'BAD_USER_INPUT')],
  ['"NaN" as a number', () => scoreOne({ ...goodApplication, loanAmount: 'NaN' }), expectError(400, 'BAD_USER_INPUT')],
  ['a float where an Int goes', () => scoreOne({ ...goodApplication, loanTermMonths: 36.5 }), expectError(400, 'BAD_USER_INPUT')],
  // strings
  ['a 100,000-character applicationRef', () => scoreOne({ ...goodApplication, applicationRef: 'r'.repeat(100_000) }), expectInvalid('applicationRef:TOO_LONG')],
  ['control characters in applicationRef', () => scoreOne({ ...goodApplication, applicationRef: '\u0000\u001b[31m\r\n' }), expectInvalid('applicationRef:CONTROL_CHARACTER')],
  [
    'control characters in an idempotency key',
    () => send({ body: json({ query: SCORE_ONE_KEYED, variables: { input: goodApplication, key: 'order-1\r\nlevel=admin' } }) }),
    expectInvalid('idempotencyKey:CONTROL_CHARACTER'),
  ],
  ['a 1 MB string literal in the query', () => send({ body: json({ query: `{ modelInfo { name } } # ${'x'.repeat(1_000_000)}` }) }), (r) => expect([200, 400]).toContain(r.status)],
  ['a 100,000-character operationName', () => send({ body: json({ query: '{ __typename }', operationName: 'o'.repeat(100_000) }) }), expectError(400)],
  [
    'a 200 KB operationName, logged as "invalid" on a short line',
    () => send({ headers: { 'x-request-id': 'hostile-long-name' }, body: json({ query: '{ __typename }', operationName: 'o'.repeat(200_000) }) }),
    async (r) => {
      expect(r.status).toBe(400);
      const { raw, line } = await requestLogLine('hostile-long-name');
      expect(line.operations).toEqual(['invalid']);
      expect(raw.length).toBeLessThan(2048);
    },
  ],
  [
    'a name and an SSN as operationName, never logged',
    () => send({ headers: { 'x-request-id': 'hostile-ssn-name' }, body: json({ query: '{ __typename }', operationName: 'John Doe SSN 123-45-6789' }) }),
    async (r) => {
      expect(r.status).toBe(400);
      expect((await requestLogLine('hostile-ssn-name')).line.operations).toEqual(['invalid']);
      expect(server.output()).not.toContain('123-45-6789');
    },
  ],
  ['a 10 KB x-request-id', () => send({ headers: { 'x-request-id': 'i'.repeat(10_000) }, body: json({ query: '{ __typename }' }) }), (r) => {
    expect(r.status).toBe(200);
    expect(String(r.headers['x-request-id']).length).toBe(36);
  }],
  // unknown fields and enum values
  ['an unknown input field', () => scoreOne({ ...goodApplication, favouriteColour: 'blue' }), expectError(400, 'BAD_USER_INPUT')],
  ['an unknown enum value', () => scoreOne({ ...goodApplication, loanPurpose: 'YACHT' }), expectError(400, 'BAD_USER_INPUT')],
  ['a lower-case enum value', () => scoreOne({ ...goodApplication, homeOwnership: 'rent' }), expectError(400, 'BAD_USER_INPUT')],
  ['an unknown root field', () => send({ body: json({ query: '{ allApplicants { ssn } }' }) }), expectError(400, 'GRAPHQL_VALIDATION_FAILED')],
  ['__proto__ in the input', () => send({ body: `{"query":${json(SCORE_ONE)},"variables":{"input":{"__proto__":{"admin":true},${json(goodApplication).slice(1, -1)}}}}` }), (r) => expect(r.status).toBe(400)],
  // bulk and batch
  ['a 10,000-item bulk', () => send({ body: json({ query: SCORE_MANY, variables: { inputs: applications(10_000) } }) }), expectError(413, 'PAYLOAD_TOO_LARGE')],
  ['a 1,001-item bulk', () => send({ body: json({ query: SCORE_MANY, variables: { inputs: applications(1001) } }) }), expectError(413, 'BATCH_TOO_LARGE')],
  [
    'five aliases and a plain scoreApplications sharing a 1,000-item variable',
    () => send({ body: json({ query: SIX_BULKS, variables: { inputs: applications(1000) } }) }),
    expectError(413, 'BATCH_TOO_LARGE'),
  ],
  [
    'an HTTP batch of eight such operations, 850 items each (40,800 applications in 1.9 MB)',
    () => send({ body: json(Array.from({ length: 8 }, () => ({ query: SIX_BULKS, variables: { inputs: applications(850) } }))) }),
    expectError(413, 'BATCH_TOO_LARGE'),
  ],
  ['/metrics on the public port', () => send({ method: 'GET', path: '/metrics', key: null }), expectError(404)],
  ['/x/..\\metrics on the public port', () => send({ method: 'GET', path: '/x/..\\metrics', key: null }), expectError(404)],
  ['an HTTP batch over the limit (21)', () => send({ body: json(Array.from({ length: 21 }, () => ({ query: '{ __typename }' }))) }), expectError(413, 'BATCH_TOO_LARGE')],
  ['an empty HTTP batch', () => send({ body: '[]' }), (r) => {
    expect(r.status).toBe(200);
    expect(r.json).toEqual([]);
  }],
  // deep and wide queries
  ['a query 50 levels deep', () => send({ body: json({ query: deepQuery(50) }) }), expectError(400, 'QUERY_TOO_COMPLEX')],
  ['100 aliases', () => send({ body: json({ query: `{ ${Array.from({ length: 100 }, (_, i) => `a${i}: modelInfo { name }`).join(' ')} }` }) }), expectError(400, 'QUERY_TOO_COMPLEX')],
  ['50,000 tokens', () => send({ body: json({ query: `{ ${'__typename '.repeat(50_000)} }` }) }), expectError(400, 'QUERY_TOO_COMPLEX')],
  ['an introspection fan-out', () => send({ body: json({ query: '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }' }) }), expectError(400)],
  ['a fragment cycle', () => send({ body: json({ query: '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }' }) }), expectError(400)],
  ['30 directives', () => send({ body: json({ query: `{ modelInfo { name ${'@include(if: true) '.repeat(30)} } }` }) }), expectError(400)],
  // bodies
  ['a 5 MB body', () => send({ body: Buffer.alloc(FIVE_MB, 0x20) }), expectError(413, 'PAYLOAD_TOO_LARGE')],
  ['a declared 5 GB body', () => send({ headers: { 'content-length': String(5 * 1024 ** 3) }, body: [Buffer.from('{}')] }), expectError(413, 'PAYLOAD_TOO_LARGE')],
  ['a 5 MB chunked body (no content-length)', () => send({ body: Array.from({ length: 80 }, () => Buffer.alloc(FIVE_MB / 80, 0x20)) }), expectError(413, 'PAYLOAD_TOO_LARGE')],
  [
    'a gzip bomb (50 MB of JSON in 50 KB)',
    () => send({ headers: { 'content-encoding': 'gzip' }, body: gzipSync(Buffer.from(json({ query: '{ __typename }', extensions: { pad: ' '.repeat(50_000_000) } }))) }),
    (r) => {
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    },
  ],
  ['a content-length that lies (too short)', () => send({ headers: { 'content-length': '5' }, body: '' as unknown as string }), (r) => expect(r.status).toBeLessThan(500)],
  // keys
  ['a mutation without a key', () => scoreOne(goodApplication, { key: null }), expectError(401, 'UNAUTHENTICATED')],
  ['a mutation with a wrong key', () => scoreOne(goodApplication, { key: 'guess-1234' }), expectError(401, 'UNAUTHENTICATED')],
  ['a 64 KB key', () => scoreOne(goodApplication, { key: 'k'.repeat(64 * 1024) }), (r) => expect([401, 431]).toContain(r.status)],
  ['the key hash sent as the key', () => scoreOne(goodApplication, { key: KEY_ENV.API_KEYS.split(',')[0].split(':')[1] }), expectError(401, 'UNAUTHENTICATED')],
  ['reloadModel with a partner key', () => send({ body: json({ query: 'mutation { reloadModel { version } }' }) }), expectError(401, 'UNAUTHENTICATED')],
  [
    'reloadModel of /etc with the admin key',
    () => send({ headers: { 'x-admin-key': ADMIN_KEY }, body: json({ query: 'mutation { reloadModel(dir: "/etc") { version } }' }) }),
    expectError(422, 'MODEL_INVALID'),
  ],
  ...(
    [
      ['../../etc', () => '../../etc', /has a "\.\." segment/],
      ['/root', () => '/root', /is absolute/],
      ['/etc', () => '/etc', /is absolute/],
      ['a valid model outside MODELS_DIR', () => 'models/loan-default-lr-1.0.0', /which is not inside /],
      ['a model dir symlinked out of MODELS_DIR', () => fromProject(hostileDirs.dirLink), /dir-link resolves to .*, which is not inside /],
      ['a model.json symlinked to /etc/passwd', () => fromProject(hostileDirs.manifestLink), /resolves to \/etc\/passwd, which is not inside its model directory/],
      ['an ONNX file symlinked out of its directory', () => fromProject(hostileDirs.onnxLink), /model\.onnx resolves to .*, which is not inside its model directory/],
      ['a manifest with onnxFile ../../../../etc/shadow', () => fromProject(hostileDirs.onnxUp), /onnxFile: must name a file inside the model directory/],
    ] as const
  ).map(([what, dir, detail], i): Case => [
    `reloadModel of ${what} with the admin key: the answer a missing directory gets`,
    () => reloadDir(dir(), `hostile-reload-${i}`),
    expectRefusedLikeMissing(`hostile-reload-${i}`, detail),
  ]),
];

describe('hostile input against the server process', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('%s', async (_, run, expectation) => {
    const reply = await run();
    expect(reply.status, `${reply.status} ${reply.text.slice(0, 300)}`).toBeLessThan(500);
    await expectation(reply);
  });

  it('keeps serving afterwards, with bounded memory', async () => {
    const ready = await send({ method: 'GET', path: '/ready', key: null });
    expect(ready.status).toBe(200);
    const scored = await scoreOne(goodApplication);
    expect(scored.json.data.scoreApplication.__typename).toBe('Decision');
    const bulk = await send({ body: json({ query: SCORE_MANY, variables: { inputs: applications(200) } }) });
    expect(bulk.json.data.scoreApplications).toHaveLength(200);
    const rssAfter = await rss();
    const growthMb = (rssAfter - rssBefore) / 1024 / 1024;
    console.log(`hostile suite: RSS ${Math.round(rssBefore / 1024 / 1024)} MB before, ${Math.round(rssAfter / 1024 / 1024)} MB after`);
    expect(growthMb).toBeLessThan(150);
    const metrics = await scrape();
    expect(serverErrorsBefore['500']).toBe(0);
    expect(metricSum(metrics, 'loan_api_http_requests_total', { status: '500' })).toBe(0);
    expect(metricSum(metrics, 'loan_api_http_requests_total', { status: '503' })).toBe(serverErrorsBefore['503']);
    expect(server.child.exitCode).toBeNull();
    expect(server.output()).not.toMatch(/"level":(50|60)/);
  });
});
