/**
 * The floor `npm run bench` measures the API's bulk path against: the least a Node process can do for a
 * `scoreApplications` request. `node:http`, JSON.parse of the same GraphQL request body
 * (`{ query, variables: { inputs: [...] } }`, the query is ignored), the same model batch through
 * `ScoringModel.score` (one `session.run` with the explanation rows, as the API does), and a JSON array of
 * `{ probabilityOfDefault }` back. No validation, no policy, no audit, no GraphQL.
 *
 *   PORT=8099 node --import tsx bench/raw-endpoint.ts
 *
 * Environment: PORT (8099), HOST (127.0.0.1), MODEL_DIR (models/loan-default-lr-1.0.0), INTRA_OP_THREADS (1).
 * GET /ready answers 200 once the model is loaded (what the bench waits for). SIGTERM/SIGINT stop it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { LoanApplication } from '../src/model/application.js';
import { PartialScoringError, ScoringModel, type ScoredApplication } from '../src/model/scoring-model.js';

const port = Number(process.env.PORT ?? 8099);
const host = process.env.HOST ?? '127.0.0.1';
const modelDir = process.env.MODEL_DIR || 'models/loan-default-lr-1.0.0';
const intraOpNumThreads = Number(process.env.INTRA_OP_THREADS ?? 1);

let model: ScoringModel | undefined;

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function score(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!model) return send(res, 503, '{"error":"model loading"}');
  const body = JSON.parse(await readBody(req)) as { variables?: { inputs?: LoanApplication[] } };
  const inputs = body.variables?.inputs;
  if (!Array.isArray(inputs)) return send(res, 400, '{"error":"variables.inputs must be an array"}');
  let scored: ReadonlyArray<ScoredApplication | Error>;
  try {
    scored = await model.score(inputs);
  } catch (error) {
    if (!(error instanceof PartialScoringError)) throw error;
    scored = error.results;
  }
  send(res, 200, JSON.stringify(scored.map((s) => ({ probabilityOfDefault: s instanceof Error ? null : s.probabilityOfDefault }))));
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/ready' || req.url === '/health')) {
    return send(res, model ? 200 : 503, model ? '{"status":"ready"}' : '{"status":"loading"}');
  }
  if (req.method !== 'POST') return send(res, 404, '{"error":"POST a scoreApplications body"}');
  score(req, res).catch((error: unknown) => send(res, 500, JSON.stringify({ error: String(error) })));
});
server.keepAliveTimeout = 65_000;
server.listen(port, host);

model = await ScoringModel.create(modelDir, { intraOpNumThreads });

const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
