import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';

/** The console's files, by the path each is served at. */
const FILES: Record<string, { file: string; type: string }> = {
  '/console': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
};

/**
 * The page may load its own script and stylesheet and call this origin's /graphql, nothing else: no inline script or
 * style, no other host, no plugin, no framing (the key is typed into it), no form posted anywhere.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const notFound = (message: string) => new Response(message, { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });

/**
 * Serves the review console (built by `npm run build` into `dir`) at GET /console. The files are read when asked
 * for, so a rebuilt console is served without a restart; a service started from its sources before any build answers
 * 404 with the command that builds it.
 */
export function useConsole(dir: string, logger: Logger): Plugin {
  let warned = false;
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname !== '/console' && !url.pathname.startsWith('/console/')) return;
      const entry = FILES[url.pathname];
      if (!entry) return endResponse(notFound('Not found'));
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return endResponse(new Response('Method not allowed', { status: 405, headers: { allow: 'GET, HEAD' } }));
      }
      let body: string;
      try {
        body = await readFile(path.join(dir, entry.file), 'utf8');
      } catch (error) {
        if (!warned) logger.warn({ err: error }, 'the review console is not built: run `npm run build`');
        warned = true;
        return endResponse(notFound('The review console is not built: run `npm run build`.'));
      }
      endResponse(
        new Response(request.method === 'HEAD' ? null : body, {
          status: 200,
          headers: {
            'content-type': entry.type,
            'content-security-policy': CONSOLE_CSP,
            'x-content-type-options': 'nosniff',
            'referrer-policy': 'no-referrer',
            // revalidated on every load: a new build is picked up at once, and the page is small
            'cache-control': 'no-cache',
          },
        }),
      );
    },
  };
}
