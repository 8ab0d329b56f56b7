import { DataPlane } from './data-plane.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { log, setLogLevel } from '../telemetry/log.js';
import { WorkerStats } from '../telemetry/stats.js';
import { ResourceTable } from '../upstream/resource-limits.js';
import { OutlierCounters } from '../upstream/outlier.js';
import { DownstreamConnectionLimits } from '../listener/connection-limits.js';
import { OverloadAction, OverloadManager } from './overload-manager.js';
import { HeapShrinker } from './heap-shrinker.js';
import { deepFreezeSharingStrings } from '../common/deep-freeze.js';
import { TokenBucketStores } from '../filters/http/local_ratelimit/bucket-stores.js';
import { SharedTokenBuckets } from '../filters/http/local_ratelimit/shared-buckets.js';

/** How a data-plane worker talks to the agent: a worker thread's parentPort, or an in-thread channel. */
export interface AgentPort {
  postMessage(msg: FromWorker): void;
  on(event: 'message', listener: (msg: ToWorker) => void): unknown;
}

/**
 * One data-plane worker: applies Snapshots from the agent and serves traffic, on whichever thread
 * calls it (its own worker thread, or the agent's thread when there is a single worker).
 * `exit` is called once the worker has closed after a shutdown request.
 */
export function runWorker(init: WorkerInit, port: AgentPort, exit: (code: number) => void): void {
  const post = (msg: FromWorker): void => port.postMessage(msg);
  const stats = new WorkerStats();
  const overload = new OverloadManager(init.overload, stats.overload);
  const dataPlane = new DataPlane({
    stats,
    limits: new ResourceTable(init.limits, init.index),
    outliers: new OutlierCounters(init.outliers),
    reportOutlier: (cluster, host, detector) => post({ type: 'outlier', cluster, host, detector }),
    connectionLimits: new DownstreamConnectionLimits(init.connections, init.index, init.connectionLimits),
    overload,
    tokenBuckets: new TokenBucketStores(new SharedTokenBuckets(init.tokenBuckets)),
  });
  overload.onChange = (action, active) => {
    if (action === OverloadAction.DisableHttpKeepalive && active) dataPlane.disableKeepalive();
    log.warn(`overload action ${action} ${active ? 'active' : 'inactive'}`);
  };
  overload.start();
  const shrinker = HeapShrinker.forThisThread(() => stats.activityCount());
  shrinker?.start();
  let queue = Promise.resolve();
  let first = true;

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'snapshot':
        // applied one at a time, in order
        queue = queue.then(async () => {
          try {
            // frozen as the agent's copy is (a structured clone is not): nothing in the worker writes to it;
            // and its strings shared again as in the agent's copy (a clone copies each one)
            await dataPlane.apply(deepFreezeSharingStrings(msg.snapshot), msg.slots);
            // the agent is not ready before every worker acked its first Snapshot: no request waits for this
            if (first) await shrinker?.collectNow();
            first = false;
            post({ type: 'ack', version: msg.snapshot.version });
          } catch (err) {
            log.error(`snapshot ${msg.snapshot.version} rejected: ${(err as Error).message}`);
            post({ type: 'nack', version: msg.snapshot.version, error: (err as Error).message });
          }
        });
        break;
      case 'stats':
        post({ type: 'stats', id: msg.id, stats: dataPlane.statsSnapshot(), activeConnections: dataPlane.activeConnections });
        break;
      case 'connections':
        post({ type: 'connections', id: msg.id, activeConnections: dataPlane.activeConnections });
        break;
      case 'drain':
        dataPlane.drain(msg.drain);
        break;
      case 'ejections':
        dataPlane.setEjections(msg.cluster, msg.ejected);
        break;
      case 'log-level':
        setLogLevel(msg.level);
        break;
      case 'shutdown':
        overload.stop();
        shrinker?.stop();
        void dataPlane.close().finally(() => exit(0));
        break;
    }
  });
}
