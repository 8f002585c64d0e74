/**
 * Builds the review console into dist/console (`npm run build` runs it; the test of the console too): its GraphQL
 * types from schema.graphql (graphql-codegen, which also refuses a document the schema cannot answer), then one
 * minified script and one stylesheet (esbuild) beside its HTML page. Nothing of it is fetched at run time.
 * `--types` writes the types only (`npm run typecheck` does, before tsc checks the console against them).
 */
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { build } from 'esbuild';
import codegenConfig from '../console/codegen.js';
import { APP_ROOT } from '../src/config.js';

/** Where the service's console plugin reads the page from. */
export const CONSOLE_DIST = path.join(APP_ROOT, 'dist', 'console');

/** Writes console/src/gql from schema.graphql; rejects, naming the document and field, when a query does not fit it. */
export async function generateConsoleTypes(): Promise<void> {
  await generate({ ...codegenConfig, cwd: APP_ROOT, silent: true }, true);
}

export async function buildConsole(outDir = CONSOLE_DIST): Promise<string[]> {
  await generateConsoleTypes();
  mkdirSync(outDir, { recursive: true });
  const source = path.join(APP_ROOT, 'console');
  await build({
    entryPoints: [path.join(source, 'src', 'main.ts'), path.join(source, 'console.css')],
    outdir: outDir,
    entryNames: 'console',
    bundle: true,
    minify: true,
    format: 'iife',
    // the browsers of the last few years; nothing older is worth a larger bundle for an internal page
    target: ['chrome111', 'firefox111', 'safari16.4'],
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
  });
  copyFileSync(path.join(source, 'index.html'), path.join(outDir, 'index.html'));
  return ['index.html', 'console.js', 'console.css'].map((f) => `${f} ${statSync(path.join(outDir, f)).size} bytes`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    if (process.argv.includes('--types')) {
      await generateConsoleTypes();
    } else {
      const files = await buildConsole();
      console.log(`built ${path.relative(APP_ROOT, CONSOLE_DIST)}: ${files.join(', ')}`);
    }
  } catch (error) {
    // codegen's own report is silenced; its error names the document, the field and the line
    console.error(`console: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
