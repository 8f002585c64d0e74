import { mkdtempSync } from 'node:fs';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { applications } from './helpers/applications.js';
import { SCORE_MANY, SIX_BULKS } from './helpers/app.js';
import { metricSum, parseMetrics } from './helpers/ops.js';
import { freePort, startServerProcess, type ServerProcess } from './helpers/process.js';

let server: ServerProcess | undefined;
afterEach(() => {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  server = undefined;
});

function bulk(url: string, count: number) {
  return fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: SCORE_MANY, variables: { inputs: applications(count) } }),
  });
}

describe('the server process', () => {
  it('refuses to start on invalid configuration, naming every problem', async () => {
    await expect(startServerProcess({ BATCH_MAX_SIZE: '0', LOG_LEVEL: 'loud' }, 10_000)).rejects.toThrow(
      /BATCH_MAX_SIZE[\s\S]*LOG_LEVEL|LOG_LEVEL[\s\S]*BATCH_MAX_SIZE/,
    );
  });

  it('says so and exits when its port is taken', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      await expect(startServerProcess({ PORT: String(port) }, 15_000)).rejects.toThrow(new RegExp(`port ${port} is in use`));
    } finally {
      blocker.close();
    }
  });

  it('on SIGTERM finishes in-flight requests, then exits 0', async () => {
    // a 100 ms batch window: each request stays in flight at least that long after it reaches GraphQL, so the moment
    // below (all eight arrived, some still running) exists on any machine
    server = await startServerProcess({ BATCH_WINDOW_MS: '100' });
    expect((await bulk(server.url, 10)).status).toBe(200);
    const answeredBefore = metricSum(await scrape(server.metricsUrl), 'loan_api_http_requests_total');
    let finishedAfterSignal = 0;
    let signalled = false;
    const inFlight = Array.from({ length: 8 }, () =>
      bulk(server!.url, 1000).then((response) => {
        if (signalled) finishedAfterSignal++;
        return response;
      }),
    );
    // SIGTERM once every request has reached the server (running now or answered) and some are still running
    let runningAtSignal = 0;
    await expect
      .poll(
        async () => {
          const metrics = await scrape(server!.metricsUrl);
          runningAtSignal = metricSum(metrics, 'loan_api_operations_running');
          const answered = metricSum(metrics, 'loan_api_http_requests_total') - answeredBefore;
          return answered + runningAtSignal === 8 && runningAtSignal > 0;
        },
        { timeout: 30_000, interval: 5 },
      )
      .toBe(true);
    server.child.kill('SIGTERM');
    signalled = true;
    const responses = await Promise.all(inFlight);
    expect(runningAtSignal).toBeGreaterThan(0);
    expect(finishedAfterSignal).toBeGreaterThan(0);
    for (const response of responses) {
      expect(response.status).toBe(200);
      const body = await response.json();
      expect(body.data.scoreApplications).toHaveLength(1000);
      expect(body.data.scoreApplications[999].__typename).toBe('Decision');
    }
    expect(await server.exited).toBe(0);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });
});


async function scrape(metricsUrl: string) {
  return parseMetrics(await (await fetch(`${metricsUrl}/metrics`)).text());
}

/** Resolves when the server closes the socket, with everything it sent before. */
function socketAnswer(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    socket.on('data', (d) => (received += d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received));
  });
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** One keep-alive GET /health on an open socket; resolves with the status line, or null if the socket closed. */
function health(socket: Socket): Promise<string | null> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(null);
    socket.on('error', () => undefined);
    const onData = (d: Buffer) => {
      socket.off('close', onClose);
      resolve(String(d).split('\r\n')[0]);
    };
    const onClose = () => {
      socket.off('data', onData);
      resolve(null);
    };
    socket.once('data', onData);
    socket.once('close', onClose);
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  });
}

describe('the server process protects itself', () => {
  it('serves /metrics on METRICS_PORT only, never on the public port', async () => {
    server = await startServerProcess();
    const metrics = await fetch(`${server.metricsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('loan_api_http_requests_total');
    for (const path of ['/metrics', '/x/..\\metrics', '/graphql/..\\metrics', '/x/%2e%2e\\metrics']) {
      const socket = await connect(Number(new URL(server.url).port));
      const answer = socketAnswer(socket);
      socket.end(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const text = await answer;
      expect(text, path).toMatch(/^HTTP\/1\.1 404/);
      expect(text, path).not.toContain('loan_api_');
    }
    expect((await fetch(`${server.metricsUrl}/graphql`)).status).toBe(404);
  });

  it('at its deadline answers 504 and starts nothing more: fields not yet run are never scored', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'loan-api-deadline-'));
    const auditFile = join(folder, 'decisions.db');
    const perField = 3000;
    server = await startServerProcess({ REQUEST_TIMEOUT_MS: '300', BULK_MAX_ITEMS: String(6 * perField), BATCH_MAX_PENDING: String(6 * perField), AUDIT_DB: auditFile });
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: SIX_BULKS, variables: { inputs: applications(perField) } }),
    });
    expect(response.status).toBe(504);
    expect((await response.json()).errors[0].extensions.code).toBe('REQUEST_TIMEOUT');
    // the operation's own execution ends (its remaining fields refuse to start) and nothing is left queued
    await expect
      .poll(async () => {
        const metrics = await scrape(server!.metricsUrl);
        return metricSum(metrics, 'loan_api_operations_running') + metricSum(metrics, 'loan_api_queue_depth');
      }, { timeout: 30_000, interval: 50 })
      .toBe(0);
    const db = new Database(auditFile, { readonly: true });
    const rows = (db.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n;
    db.close();
    console.log(`deadline: ${rows} of ${6 * perField} applications decided before the 504`);
    expect(rows).toBeLessThan(6 * perField);
    const metrics = await scrape(server.metricsUrl);
    expect(metricSum(metrics, 'loan_api_decisions_total')).toBe(rows);
  });

  it('closes a request that does not arrive within SERVER_REQUEST_TIMEOUT_MS (slow client)', async () => {
    server = await startServerProcess({ SERVER_REQUEST_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '500' });
    const socket = await connect(Number(new URL(server.url).port));
    const answer = socketAnswer(socket);
    // headers and the start of a body that never comes
    socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"query":');
    expect(await answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('accepts at most MAX_CONNECTIONS sockets; the next is closed unanswered until one is freed', async () => {
    server = await startServerProcess({ MAX_CONNECTIONS: '3' });
    const port = Number(new URL(server.url).port);
    // Open keep-alive sockets one by one (each answered before the next): the 4th at the latest must be refused.
    // Fewer than 3 may be accepted, since this process's fetch may still hold a pooled connection to the server.
    const held: Socket[] = [];
    let refused = false;
    while (!refused && held.length < 4) {
      const socket = await connect(port).catch(() => null);
      const status = socket && (await health(socket));
      if (status === 'HTTP/1.1 200 OK') held.push(socket!);
      else refused = true;
    }
    expect(refused).toBe(true);
    expect(held.length).toBeGreaterThan(0);
    expect(held.length).toBeLessThanOrEqual(3);
    held[0].destroy();
    await expect
      .poll(async () => {
        const socket = await connect(port).catch(() => null);
        const status = socket && (await health(socket));
        socket?.destroy();
        return status;
      }, { timeout: 10_000, interval: 50 })
      .toBe('HTTP/1.1 200 OK');
    for (const socket of held) socket.destroy();
  });
});
