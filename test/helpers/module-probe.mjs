// Preloaded into a proxy under test (NODE_OPTIONS=--import, see loadedModules in proxy-modules.ts):
// every thread (the main thread and each worker thread) writes what it has loaded to
// $OUTRIGGER_MODULE_PROBE/<threadId>.json every 100 ms: the files of ES and CommonJS modules (a
// load hook) and node's builtins (process.moduleLoadList).
import fs from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';

const dir = process.env.OUTRIGGER_MODULE_PROBE;
const files = [];
module.registerHooks({
  load(url, context, next) {
    files.push(url);
    return next(url, context);
  },
});
let written = -1;
setInterval(() => {
  const count = files.length + process.moduleLoadList.length;
  if (count === written) return;
  written = count;
  const tmp = join(dir, `${threadId}.json.tmp`);
  fs.writeFileSync(tmp, JSON.stringify({ files, builtins: process.moduleLoadList }));
  fs.renameSync(tmp, join(dir, `${threadId}.json`));
}, 100).unref();
