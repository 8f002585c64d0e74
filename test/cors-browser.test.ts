/**
 * CORS in a real browser (Debian's Chromium) against a real server process with CORS_ORIGINS set: the listed origin
 * reads answers; an unlisted origin, and a sandboxed iframe on it (whose origin is `null`), cannot.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from './helpers/process.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let api: ServerProcess;
let listed: Server;
let unlisted: Server;
let browser: BrowserContext;
let userDataDir: string;

/** A page that POSTs a query to the API, directly or from a sandboxed iframe, and tells what it could read. */
function pageServer(): Promise<Server> {
  const server = createServer((request, response) => {
    const sandboxed = request.url === '/sandboxed';
    const attempt = `fetch(${JSON.stringify(`${api.url}/graphql`)}, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ modelInfo { version } }"}'
      }).then((r) => r.text()).then((t) => report('read:' + t), () => report('blocked'))`;
    const html = sandboxed
      ? `<!doctype html><body><script>
          window.result = new Promise((resolve) => {
            window.addEventListener('message', (e) => resolve(e.data));
            const frame = document.createElement('iframe');
            frame.sandbox = 'allow-scripts';
            frame.srcdoc = '<script>const report = (m) => parent.postMessage(m, "*"); ' + ${JSON.stringify(attempt)} + '<\\/script>';
            document.body.appendChild(frame);
          });
        </script></body>`
      : `<!doctype html><body><script>
          window.result = new Promise((resolve) => { const report = resolve; ${attempt}; });
        </script></body>`;
    response.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
const origin = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium)`);
  listed = await pageServer();
  unlisted = await pageServer();
  api = await startServerProcess({ CORS_ORIGINS: origin(listed), NODE_ENV: 'production' });
  userDataDir = mkdtempSync(join(tmpdir(), 'cors-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([listed, unlisted].map((s) => s && new Promise((resolve) => s.close(resolve))));
  if (api && api.child.exitCode === null) {
    api.child.kill('SIGTERM');
    await api.exited;
  }
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

async function resultOf(url: string): Promise<string> {
  const page = await browser.newPage();
  try {
    await page.goto(url, { waitUntil: 'load' });
    return await page.evaluate(() => (window as unknown as { result: Promise<string> }).result);
  } finally {
    await page.close();
  }
}

describe('CORS in Chromium', () => {
  it('lets the listed origin read an answer', async () => {
    expect(await resultOf(`${origin(listed)}/`)).toMatch(/^read:\{"data":\{"modelInfo":\{"version":"1\.0\.0"\}\}\}$/);
  });

  it('keeps an unlisted origin from reading', async () => {
    expect(await resultOf(`${origin(unlisted)}/`)).toBe('blocked');
  });

  it('keeps a sandboxed iframe (origin null) on an unlisted origin from reading', async () => {
    expect(await resultOf(`${origin(unlisted)}/sandboxed`)).toBe('blocked');
  });
});
