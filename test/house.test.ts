/**
 * The house (docs/architecture.md): each part of src/ may import only what its arrows allow. Read from the import
 * statements of the source files, so a new file or a new import is checked as soon as it exists.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ROOT } from '../src/config.js';

const SRC = path.join(APP_ROOT, 'src');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : entry.name.endsWith('.ts') ? [path.join(dir, entry.name)] : [],
  );
}

/** Every module one file imports (static and dynamic), relative ones resolved to a path from the project folder. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|new URL\(\s*['"]([^'"]+)['"]/g)]
    .map((m) => m[1] ?? m[2] ?? m[3]);
  return specs.map((spec) => (spec.startsWith('.') ? path.relative(APP_ROOT, path.resolve(path.dirname(file), spec)) : spec));
}

/** Files of `part` (a folder under src/) that import something `forbidden` matches, as "file → import". */
function violations(part: string, forbidden: (spec: string) => boolean): string[] {
  return filesUnder(path.join(SRC, part)).flatMap((file) =>
    importsOf(file)
      .filter(forbidden)
      .map((spec) => `${path.relative(APP_ROOT, file)} → ${spec}`),
  );
}

const GRAPHQL_PACKAGES = /^(graphql|graphql-yoga|graphql-scalars|@pothos\/|@envelop\/|@graphql-yoga\/|@escape\.tech\/)/;
const outside = (...folders: string[]) => (spec: string) =>
  spec.startsWith('src/') && !folders.some((folder) => spec === folder || spec.startsWith(`${folder}/`));

describe('the house', () => {
  it('finds the parts it checks', () => {
    for (const part of ['model', 'decisions', 'schema', 'resolvers', 'plugins']) expect(filesUnder(path.join(SRC, part)).length, part).toBeGreaterThan(0);
    expect(importsOf(path.join(SRC, 'decisions', 'decision-service.ts'))).toContain('src/model/batcher.js');
  });

  it('src/model/ imports nothing from the other parts, nor GraphQL, Pothos or Yoga', () => {
    expect(violations('model', (spec) => GRAPHQL_PACKAGES.test(spec) || outside('src/model')(spec))).toEqual([]);
  });

  it('src/decisions/ imports only src/model/, and knows no GraphQL', () => {
    expect(violations('decisions', (spec) => GRAPHQL_PACKAGES.test(spec) || outside('src/model', 'src/decisions')(spec))).toEqual([]);
  });

  it('resolvers import no other resolver', () => {
    const crossImports = filesUnder(path.join(SRC, 'resolvers')).flatMap((file) =>
      importsOf(file)
        .filter((spec) => spec.startsWith('src/resolvers/') && spec !== path.relative(APP_ROOT, file).replace(/\.ts$/, '.js'))
        .map((spec) => `${path.relative(APP_ROOT, file)} → ${spec}`),
    );
    expect(crossImports).toEqual([]);
  });

  it('the server imports no browser code, and the console none of the server', () => {
    const consoleFiles = filesUnder(path.join(APP_ROOT, 'console', 'src')).filter((file) => !file.includes(`${path.sep}gql${path.sep}`));
    expect(consoleFiles.length).toBeGreaterThan(0);
    expect(filesUnder(SRC).flatMap((file) => importsOf(file).filter((spec) => spec.startsWith('console/')).map((spec) => `${path.relative(APP_ROOT, file)} → ${spec}`))).toEqual([]);
    // the page knows the service by its schema (generated types) and /graphql only
    const notOwn = (spec: string) => !spec.startsWith('console/src/');
    expect(consoleFiles.flatMap((file) => importsOf(file).filter(notOwn).map((spec) => `${path.relative(APP_ROOT, file)} → ${spec}`))).toEqual([]);
  });

  it('nothing served imports the trainer, the scripts, the benchmarks or the tests', () => {
    const tools = (spec: string) => /^(training|scripts|bench|test)\//.test(spec);
    expect(filesUnder(SRC).flatMap((file) => importsOf(file).filter(tools).map((spec) => `${path.relative(APP_ROOT, file)} → ${spec}`))).toEqual([]);
  });
});
