import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerInit } from './messages.js';
import { setLogLevel, setLogScope } from '../telemetry/log.js';
import { runWorker } from './run.js';

/** Worker thread entry: one data-plane worker on its own thread. */
const init = workerData as WorkerInit;
setLogLevel(init.logLevel);
setLogScope(`worker-${init.index}`);
runWorker(init, parentPort!, (code) => process.exit(code));
