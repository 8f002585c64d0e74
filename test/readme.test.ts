/**
 * The README's first example is what a new user runs first: its request body, sent as written, must get exactly the
 * answer the README shows. (`npm run image:test` sends it to the image too.)
 */
import { describe, expect, it } from 'vitest';
import { post, startTestAppsClosedAfterAll } from './helpers/app.js';
import { readmeExample } from './helpers/readme.js';

const startTestApp = startTestAppsClosedAfterAll();

describe("the README's example", () => {
  it('is valid JSON, and the service answers it exactly as the README shows', async () => {
    const { body, answer } = readmeExample();
    expect(body, 'the curl example with its heredoc body').toBeDefined();
    expect(answer, 'the json block with the answer').toBeDefined();
    const { status, json } = await post(await startTestApp(), body);
    expect(status).toBe(200);
    expect(json).toEqual(answer);
  });
});
