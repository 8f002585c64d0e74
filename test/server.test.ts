import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { applications } from './helpers/applications.js';
import { SCORE_MANY } from './helpers/app.js';
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
    server = await startServerProcess();
    expect((await bulk(server.url, 10)).status).toBe(200);
    let finishedAfterSignal = 0;
    let signalled = false;
    const inFlight = Array.from({ length: 8 }, () =>
      bulk(server!.url, 1000).then((response) => {
        if (signalled) finishedAfterSignal++;
        return response;
      }),
    );
    // Long enough for every request to reach the server, far shorter than serving all eight takes.
    await new Promise((r) => setTimeout(r, 250));
    server.child.kill('SIGTERM');
    signalled = true;
    const responses = await Promise.all(inFlight);
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
