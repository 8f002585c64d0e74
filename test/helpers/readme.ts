import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APP_ROOT } from '../../src/config.js';

/**
 * The README's first example: the request body of its curl heredoc and the answer its json block shows, both parsed.
 * Undefined where the README has no such block (the caller says which is missing).
 */
export function readmeExample(readme = readFileSync(path.join(APP_ROOT, 'README.md'), 'utf8')): { body?: unknown; answer?: unknown } {
  const body = /--data-binary @- <<'JSON'\n([\s\S]*?)\nJSON\n/.exec(readme)?.[1];
  const answer = /```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
  return { body: body === undefined ? undefined : JSON.parse(body), answer: answer === undefined ? undefined : JSON.parse(answer) };
}
