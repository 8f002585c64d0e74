/**
 * The review console in a real browser (Debian's Chromium) against a real server process with partner and reviewer
 * keys: three REFER decisions wait in the queue (an APPROVE does not), a reviewer opens one and declines it with a
 * reason code and a note, using the keyboard, and the queue shows two; decision(id) then carries the review. The
 * screenshots it takes (queue, decision, phone width) are written to test-output/ for a person to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../scripts/build-console.js';
import { sha256Hex } from '../src/plugins/auth.js';
import { CONSOLE_CSP } from '../src/plugins/console.js';
import { startTestApp } from './helpers/app.js';
import { goodApplication } from './helpers/applications.js';
import { ROOT, startServerProcess, type ServerProcess } from './helpers/process.js';

// CI installs Debian's chromium; a missing browser must fail the suite, not skip it.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUTPUT = path.join(ROOT, 'test-output');

const PARTNER_KEY = 'partner-key-for-the-console-test';
const REVIEWER_KEY = 'reviewer-key-for-the-console-test';
const REVIEWER_ID = 'officer-1';
const NOTE = 'Utilisation above 50 % on every card; no explanation offered.';

/** The README's application, which the model refers, and two neighbours it refers too. */
const referred = [
  { applicationRef: 'A-1001', creditScore: 690, loanPurpose: 'DEBT_CONSOLIDATION' },
  { applicationRef: 'A-1002', creditScore: 680, loanPurpose: 'DEBT_CONSOLIDATION' },
  { applicationRef: 'A-1003', creditScore: 700, loanPurpose: 'CREDIT_CARD' },
].map((v) => ({
  annualIncome: 65000,
  monthlyDebt: 800,
  loanAmount: 15000,
  loanTermMonths: 36,
  employmentYears: 4,
  homeOwnership: 'RENT',
  openCreditLines: 7,
  delinquencies2y: 1,
  revolvingUtilization: 0.55,
  ...v,
}));

let api: ServerProcess;
let browser: BrowserContext;
let userDataDir: string;
/** the ids of the three REFER decisions, in the order they were made */
const referIds: string[] = [];

async function graphql(query: string, variables: object, key: string) {
  const response = await fetch(`${api.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, any>; errors?: { message: string; extensions?: { code?: string } }[] };
}

async function score(input: object): Promise<{ id: string; outcome: string }> {
  const { data, errors } = await graphql(
    'mutation ($input: LoanApplicationInput!) { scoreApplication(input: $input) { ... on Decision { id outcome } } }',
    { input },
    PARTNER_KEY,
  );
  expect(errors).toBeUndefined();
  return data!.scoreApplication;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium)`);
  // The server runs from its TypeScript sources (tsx); the page it serves is the bundle `npm run build` makes, so
  // build it here from the sources under test.
  await buildConsole();
  api = await startServerProcess({
    API_KEYS: `partner-1:${sha256Hex(PARTNER_KEY)}`,
    REVIEWER_KEYS: `${REVIEWER_ID}:${sha256Hex(REVIEWER_KEY)}`,
  });
  for (const input of referred) {
    const decision = await score(input);
    expect(decision.outcome, input.applicationRef).toBe('REFER');
    referIds.push(decision.id);
  }
  // an approval never waits for review
  expect((await score(goodApplication)).outcome).toBe('APPROVE');
  mkdirSync(OUTPUT, { recursive: true });
  userDataDir = mkdtempSync(path.join(tmpdir(), 'console-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    // the page formats numbers in the reader's locale; the assertions read English ones
    locale: 'en-US',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  if (api && api.child.exitCode === null) {
    api.child.kill('SIGTERM');
    await api.exited;
  }
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

/** A page on the console that records (and refuses) every request to anywhere but the service. */
async function openConsole(viewport = { width: 1280, height: 800 }): Promise<{ page: Page; outside: string[] }> {
  const page = await browser.newPage();
  await page.setViewportSize(viewport);
  const outside: string[] = [];
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === api.url) return route.continue();
    outside.push(url.href);
    return route.abort();
  });
  await page.goto(`${api.url}/console`, { waitUntil: 'load' });
  return { page, outside };
}

/** Presses Tab until the focused element matches `selector`: it is reachable with the keyboard, in a sane order. */
async function tabTo(page: Page, selector: string, limit = 80): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`${selector} was not reached in ${limit} presses of Tab`);
}

/** Whether the focused element shows a focus ring. */
const focusVisible = (page: Page) =>
  page.evaluate(() => {
    const style = getComputedStyle(document.activeElement!);
    return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  });

const queueIds = (page: Page) => page.locator('#queue-list li[data-id]').evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.id));

/** Types the key into the focused key field and submits it with Enter. */
async function enterKey(page: Page, key: string): Promise<void> {
  await tabTo(page, '#key');
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');
}

async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  const file = path.join(OUTPUT, name);
  await page.screenshot({ path: file, fullPage });
  console.log(`screenshot: ${path.relative(ROOT, file)}`);
}

describe('the review console in Chromium', () => {
  it('shows the three REFERs, declines one with a reason code and a note from the keyboard, and the queue shows two', async () => {
    const { page, outside } = await openConsole();
    expect(await page.title()).toBe('Review console · Loan decisioning API');

    await enterKey(page, REVIEWER_KEY);
    await expect.poll(() => queueIds(page), { timeout: 30_000 }).toHaveLength(3);
    // newest first
    expect(await queueIds(page)).toEqual([...referIds].reverse());
    await screenshot(page, 'console-queue.png');

    // open the oldest (A-1001, the README's application) from the keyboard
    const [id] = referIds;
    await tabTo(page, `#queue-list li[data-id="${id}"] a`);
    expect(await focusVisible(page)).toBe(true);
    await page.keyboard.press('Enter');
    const form = page.locator('form.review-form');
    await form.waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('detail-heading');
    const detail = page.locator('#detail');
    await expect.poll(() => detail.innerText()).toContain('Decision A-1001');
    const text = await detail.innerText();
    for (const shown of ['REFER', 'Probability of default', 'Score', 'REVOLVING_UTILIZATION', 'No policy rule was hit', 'Credit score', '690', 'Debt consolidation', 'Rent', id]) {
      expect(text).toContain(shown);
    }

    // Decline (arrow keys inside the radio group), the first code the decision cites, a note, submit
    await tabTo(page, 'input[name=outcome]');
    await page.keyboard.press('ArrowDown');
    expect(await page.locator('input[name=outcome][value=DECLINE]').isChecked()).toBe(true);
    const code = 'REVOLVING_UTILIZATION';
    await tabTo(page, `#code-${code}`);
    await page.keyboard.press('Space');
    expect(await page.locator(`#code-${code}`).isChecked()).toBe(true);
    await tabTo(page, '#note');
    await page.keyboard.type(NOTE);
    expect(await page.locator('#note-count').innerText()).toContain(`${NOTE.length} / 2,000`);
    await screenshot(page, 'console-decision.png', true);
    await tabTo(page, 'form.review-form button[type=submit]');
    expect(await focusVisible(page)).toBe(true);
    await page.keyboard.press('Enter');

    await expect.poll(() => page.locator('#status').innerText(), { timeout: 30_000 }).toContain(`Declined by ${REVIEWER_ID}`);
    await expect.poll(() => queueIds(page)).toEqual([referIds[2], referIds[1]]);
    await expect.poll(() => detail.innerText()).toContain('Reviewer');
    expect(await detail.innerText()).toContain(REVIEWER_ID);
    await screenshot(page, 'console-reviewed.png');
    expect(outside).toEqual([]);
    await page.close();

    // the service has the review
    const { data } = await graphql(
      'query ($id: ID!) { decision(id: $id) { outcome finalOutcome review { outcome reasonCodes note reviewer reviewedAt } } }',
      { id },
      REVIEWER_KEY,
    );
    expect(data!.decision).toMatchObject({
      outcome: 'REFER',
      finalOutcome: 'DECLINE',
      review: { outcome: 'DECLINE', reasonCodes: [code], note: NOTE, reviewer: REVIEWER_ID },
    });
  });

  it('fits a phone-width screen without sideways scrolling', async () => {
    const { page, outside } = await openConsole({ width: 390, height: 844 });
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    expect(await fits()).toBe(true);
    await enterKey(page, REVIEWER_KEY);
    await expect.poll(() => queueIds(page), { timeout: 30_000 }).toHaveLength(2);
    expect(await fits()).toBe(true);
    await tabTo(page, '#queue-list li[data-id] a');
    await page.keyboard.press('Enter');
    await page.locator('form.review-form').waitFor({ timeout: 30_000 });
    expect(await fits()).toBe(true);
    await screenshot(page, 'console-phone.png', true);
    expect(outside).toEqual([]);
    await page.close();
  });

  it('shows the service’s code when a key may not review, and checks a decline’s codes before sending', async () => {
    const { page } = await openConsole();
    // a partner key reads its own decisions but reviews nothing
    await enterKey(page, PARTNER_KEY);
    await expect.poll(() => queueIds(page), { timeout: 30_000 }).toHaveLength(2);
    await page.goto(`${api.url}/console#/decision/${encodeURIComponent(referIds[1])}`);
    const form = page.locator('form.review-form');
    await form.waitFor({ timeout: 30_000 });
    const alert = form.locator('[role=alert]');

    await page.locator('input[name=outcome][value=DECLINE]').check();
    await form.locator('button[type=submit]').click();
    await expect.poll(() => alert.innerText()).toContain('A decline cites 1 to 4 reason codes');

    await page.locator('input[name=outcome][value=APPROVE]').check();
    // an approval cites no codes: the whole group is disabled
    expect(await page.locator('fieldset.codes').evaluate((f) => (f as HTMLFieldSetElement).disabled)).toBe(true);
    await form.locator('button[type=submit]').click();
    await expect.poll(() => alert.innerText(), { timeout: 30_000 }).toContain('FORBIDDEN');
    await page.close();
  });

  it('pages the queue twenty at a time', async () => {
    // two REFERs are still waiting (the partner could not review); twenty more make two pages
    const { data, errors } = await graphql(
      'mutation ($inputs: [LoanApplicationInput!]!) { scoreApplications(inputs: $inputs) { ... on Decision { outcome } } }',
      { inputs: Array.from({ length: 20 }, (_, i) => ({ ...referred[0], applicationRef: `B-${i}` })) },
      PARTNER_KEY,
    );
    expect(errors).toBeUndefined();
    expect(data!.scoreApplications.every((d: { outcome: string }) => d.outcome === 'REFER')).toBe(true);
    const { page } = await openConsole();
    await enterKey(page, REVIEWER_KEY);
    await expect.poll(() => queueIds(page), { timeout: 30_000 }).toHaveLength(20);
    expect(await page.locator('#previous-page').isDisabled()).toBe(true);
    await tabTo(page, '#next-page');
    await page.keyboard.press('Enter');
    await expect.poll(() => queueIds(page)).toEqual([referIds[2], referIds[1]]);
    expect(await page.locator('#page-label').innerText()).toContain('Page 2');
    expect(await page.locator('#next-page').isDisabled()).toBe(true);
    await page.locator('#previous-page').click();
    await expect.poll(() => queueIds(page)).toHaveLength(20);
    await page.close();
  });

  it('serves its page, script and stylesheet with a CSP of its own origin only, and nothing from elsewhere', async () => {
    const page = await fetch(`${api.url}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).not.toMatch(/https?:|\*|unsafe/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    for (const [file, type] of [
      ['console.js', 'text/javascript; charset=utf-8'],
      ['console.css', 'text/css; charset=utf-8'],
    ]) {
      expect(html).toContain(`/console/${file}`);
      const response = await fetch(`${api.url}/console/${file}`);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('content-type')).toBe(type);
      expect(await response.text()).not.toMatch(/https?:\/\//);
    }
    expect((await fetch(`${api.url}/console/other.js`)).status).toBe(404);
    expect((await fetch(`${api.url}/console`, { method: 'POST' })).status).toBe(405);
  });
});

describe('CONSOLE=false', () => {
  it('answers 404 at /console', async () => {
    const app = await startTestApp({ CONSOLE: 'false' });
    try {
      for (const file of ['/console', '/console/console.js']) expect((await app.yoga.fetch(`http://yoga${file}`)).status, file).toBe(404);
    } finally {
      await app.close();
    }
  });
});
