/**
 * The audit trail's operator commands, without starting the server:
 *
 *   npm run audit:migrate                       apply the schema (PostgreSQL: migrations under the advisory lock)
 *   npm run audit:retention [-- --months N]     drop what is older than N whole months (AUDIT_RETENTION_MONTHS)
 *   npm run audit:copy -- --from data/decisions.db [--to postgres://…] [--chunk 500]
 *                                               copy a SQLite trail into PostgreSQL (resumable, idempotent)
 *
 * In the image: node dist/src/audit-cli.js <command> [options]. The store is the one the configuration names
 * (AUDIT_DATABASE_URL, else the SQLite file); --to defaults to AUDIT_DATABASE_URL.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ConfigError, fromRoot, parseConfig, type Config } from './config.js';
import { copySqliteToPostgres } from './decisions/audit/copy.js';
import { addMonths, dropExpiredMonths, migrate, monthStart } from './decisions/audit/postgres-schema.js';
import { describeDatabaseUrl } from './decisions/audit/postgres-store.js';
import { deleteDecidedBefore, openAuditDatabase } from './decisions/audit/sqlite-schema.js';

const USAGE = 'usage: audit-cli migrate | retention [--months N] | copy --from <sqlite file> [--to <postgres URL>] [--chunk N]';

function poolFor(url: string, config: Config): pg.Pool {
  return new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: config.audit.busyTimeoutMs, application_name: 'loan-decisioning-audit-cli' });
}

async function run(argv: string[]): Promise<void> {
  const config = parseConfig(process.env);
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { months: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, chunk: { type: 'string' } },
    strict: true,
  });
  const url = config.audit.databaseUrl;

  if (command === 'migrate') {
    if (!url) {
      openAuditDatabase(config.audit.file, config.audit.sync).close();
      console.log(`SQLite audit trail ${config.audit.file}: schema up to date`);
      return;
    }
    const pool = poolFor(url, config);
    try {
      const report = await migrate(pool);
      const applied = report.applied.length > 0 ? `applied ${report.applied.join(', ')}` : 'nothing to apply';
      console.log(`PostgreSQL audit trail ${describeDatabaseUrl(url)}: ${applied}; schema version ${report.version}`);
    } finally {
      await pool.end();
    }
    return;
  }

  if (command === 'retention') {
    const months = values.months === undefined ? config.audit.retentionMonths : Number(values.months);
    if (months === undefined) throw new UsageError('no retention set: AUDIT_RETENTION_MONTHS or --months N');
    if (!Number.isInteger(months) || months < 1) throw new UsageError('--months must be a whole number of months, at least 1');
    if (!url) {
      const keptFrom = addMonths(monthStart(new Date()), -months);
      const db = openAuditDatabase(config.audit.file, config.audit.sync);
      const deleted = deleteDecidedBefore(db, keptFrom);
      db.close();
      console.log(`SQLite audit trail: kept from ${keptFrom.toISOString().slice(0, 7)}; deleted ${deleted.decisions} decisions in ${deleted.batches} batches, ${deleted.reviews} reviews`);
      return;
    }
    const pool = poolFor(url, config);
    try {
      const report = await dropExpiredMonths(pool, months);
      const dropped = report.droppedPartitions.length > 0 ? report.droppedPartitions.join(', ') : 'no partition';
      console.log(`PostgreSQL audit trail: kept from ${report.keptFrom.toISOString().slice(0, 7)}; dropped ${dropped}; deleted ${report.deletedKeys} idempotency keys`);
    } finally {
      await pool.end();
    }
    return;
  }

  if (command === 'copy') {
    const to = values.to ?? url;
    if (!values.from) throw new UsageError('copy needs --from <SQLite audit file>');
    if (!to) throw new UsageError('copy needs --to <postgres URL> (or AUDIT_DATABASE_URL)');
    const chunk = values.chunk === undefined ? 500 : Number(values.chunk);
    if (!Number.isInteger(chunk) || chunk < 1) throw new UsageError('--chunk must be a whole number of batches, at least 1');
    const from = fromRoot(values.from);
    const pool = poolFor(to, config);
    try {
      const report = await copySqliteToPostgres(from, pool, {
        chunkBatches: chunk,
        onProgress: (p) => console.log(`copied ${p.batches}/${p.batchesTotal} batches, ${p.decisions}/${p.decisionsTotal} decisions`),
      });
      console.log(`source ${from}: ${report.source.decisions} decisions in ${report.source.batches} batches`);
      console.log(`destination ${describeDatabaseUrl(to)}: inserted ${report.inserted.decisions} decisions in ${report.inserted.batches} batches, ${report.inserted.keys} idempotency keys, ${report.inserted.reviews} reviews`);
      console.log(`verified: ${report.present} of ${report.source.decisions} decisions of the source are in the destination`);
      if (report.keyConflicts > 0) {
        console.log(`${report.keyConflicts} idempotency keys were already taken in the destination by other decisions: those keys keep answering the destination's decisions`);
      }
      if (report.present !== report.source.decisions) throw new Error('the destination does not hold every decision of the source');
    } finally {
      await pool.end();
    }
    return;
  }
  throw new UsageError(command ? `unknown command "${command}"` : 'no command');
}

class UsageError extends Error {}

run(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof UsageError) console.error(error.message);
  else console.error(`audit-cli: ${error instanceof Error ? error.message : String(error)}`);
  if (error instanceof UsageError) console.error(USAGE);
  process.exit(error instanceof UsageError ? 2 : 1);
});
