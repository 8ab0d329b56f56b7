// The CLI's entry. It loads nothing before it knows the process has the proxy's V8 flags: without
// them it replaces itself (same pid, as exec does: a supervisor such as pilot-agent sees one
// process) with node started with them.
import { missingNodeFlags } from './node-flags.js';

const nodeArgs = missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS);
if (nodeArgs && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...nodeArgs, ...process.argv.slice(1)], process.env);
}

const { main } = await import('./commands.js');
const { log } = await import('../telemetry/log.js');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    log.error(`fatal: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
