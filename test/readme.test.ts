/**
 * The README's first example is what a new user runs first: its request body, sent as written, must get exactly the
 * answer the README shows.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ROOT } from '../src/config.js';
import { post, startTestAppsClosedAfterAll } from './helpers/app.js';

const readme = readFileSync(path.join(APP_ROOT, 'README.md'), 'utf8');
const startTestApp = startTestAppsClosedAfterAll();

describe("the README's example", () => {
  it('is valid JSON, and the service answers it exactly as the README shows', async () => {
    const body = /--data-binary @- <<'JSON'\n([\s\S]*?)\nJSON\n/.exec(readme)?.[1];
    const shown = /```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(body, 'the curl example with its heredoc body').toBeDefined();
    expect(shown, 'the json block with the answer').toBeDefined();
    const { status, json } = await post(await startTestApp(), JSON.parse(body!));
    expect(status).toBe(200);
    expect(json).toEqual(JSON.parse(shown!));
  });
});
