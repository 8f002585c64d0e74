/**
 * Online backup of the audit trail: `npm run audit:backup -- [destination]`. Safe while replicas are writing
 * (SQLite's backup API copies a consistent snapshot, WAL included).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { parseConfig } from '../src/config.js';

const config = parseConfig(process.env);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const destination = process.argv[2] ?? path.join(path.dirname(config.audit.file), `decisions-${stamp}.db`);
const db = new Database(config.audit.file, { readonly: true, fileMustExist: true });
try {
  await db.backup(destination);
  const { n } = new Database(destination, { readonly: true }).prepare('SELECT count(*) AS n FROM decisions').get() as { n: number };
  console.log(`backed up ${n} decisions from ${config.audit.file} to ${destination}`);
} finally {
  db.close();
}
