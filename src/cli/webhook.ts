/**
 * `outrigger webhook`: the mutating admission webhook over HTTPS (the API server calls nothing
 * else). POST /inject takes an AdmissionReview v1 and answers it (inject/webhook.ts); /healthz
 * answers 200. Runs until SIGTERM/SIGINT.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { AdmissionError, admissionResponse, type AdmissionReview } from '../inject/webhook.js';
import { log } from '../telemetry/log.js';
import type { RunFlags } from './args.js';
import { injectOptionsOf } from './inject.js';

/** The largest AdmissionReview read (a pod spec is far smaller). */
const MAX_BODY_BYTES = 4 << 20;

export async function webhook(flags: RunFlags): Promise<number> {
  const f = flags.webhook!;
  let cert: Buffer;
  let key: Buffer;
  try {
    [cert, key] = await Promise.all([readFile(f.certFile), readFile(f.keyFile)]);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
  const options = injectOptionsOf(f.inject, flags.identity.trustDomain);
  const server = createServer({ cert, key }, (req, res) => void handle(req, res, options));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(f.port, '0.0.0.0', () => resolve());
    });
  } catch (e) {
    process.stderr.write(`error: cannot listen on ${f.port}: ${(e as Error).message}\n`);
    return 1;
  }
  log.info(`webhook: POST /inject on :${f.port}`);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return 0;
}

async function handle(req: IncomingMessage, res: ServerResponse, options: ReturnType<typeof injectOptionsOf>): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
  if (path !== '/inject' || req.method !== 'POST') return send(res, 404, 'text/plain', 'POST /inject\n');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) return send(res, 413, 'text/plain', 'AdmissionReview too large\n');
    chunks.push(c as Buffer);
  }
  try {
    const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview;
    send(res, 200, 'application/json', JSON.stringify(admissionResponse(review, options)));
  } catch (e) {
    if (e instanceof SyntaxError || e instanceof AdmissionError) return send(res, 400, 'text/plain', `${e.message}\n`);
    log.error(`webhook: ${(e as Error).stack ?? e}`);
    send(res, 500, 'text/plain', 'internal error\n');
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}
