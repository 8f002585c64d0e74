import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';

// CI installs Debian's chromium; a missing browser must fail the suite, not skip it.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let app: TestApp;
let server: Server;
let browser: BrowserContext;
let userDataDir: string;
let base: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium)`);
  app = await startTestApp();
  server = createServer(app.yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  userDataDir = mkdtempSync(join(tmpdir(), 'graphiql-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await app?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

describe('GraphiQL', () => {
  it('loads with no outside network, runs the example mutation and shows a decision', async () => {
    const page = await browser.newPage();
    const outside: string[] = [];
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.origin === base || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
      outside.push(url.href);
      return route.abort();
    });
    await page.goto(`${base}/graphql`, { waitUntil: 'load' });
    expect(await page.title()).toBe('Loan decisioning API');

    const run = page.locator('.graphiql-execute-button');
    await run.waitFor({ timeout: 30_000 });
    await page.waitForFunction(() => document.body.innerText.includes('scoreApplication'), undefined, { timeout: 30_000 });
    await run.click();
    await page.waitForFunction(() => document.querySelector('.graphiql-response')?.textContent?.includes('"outcome"'), undefined, {
      timeout: 30_000,
    });
    // Monaco renders spaces as no-break spaces.
    const response = ((await page.locator('.graphiql-response').textContent()) ?? '').replace(/\u00a0/g, ' ');
    expect(response).toContain('"__typename": "Decision"');
    expect(response).toMatch(/"outcome": "(APPROVE|REFER|DECLINE)"/);
    expect(outside).toEqual([]);
    await page.close();
  });

  it('serves its page without any CDN reference', async () => {
    const html = await (await fetch(`${base}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(html).toContain('<title>Loan decisioning API</title>');
    expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs/);
  });
});
