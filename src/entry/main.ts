// The shipped CLI's entry (bin/outrigger.js): bundle.mjs bundles it, with ./worker.ts,
// into dist/bundle/. Its worker threads start from the worker entry beside it, so a bundled process
// runs bundled workers. Nothing else is loaded before the CLI's own entry (cli/main.ts), which may
// re-exec the process with the proxy's node flags first.
import { setWorkerEntry } from '../agent/worker-entry.js';

setWorkerEntry(new URL('./worker.js', import.meta.url));
await import('../cli/main.js');
