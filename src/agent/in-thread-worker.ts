import { EventEmitter } from 'node:events';
import { threadId } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerInit } from '../worker/messages.js';

/**
 * The single data-plane worker on the agent's own thread, behind the face of a worker thread (the
 * pool talks to it as to a Worker). A second isolate costs ~20 MiB of RSS idle and its own copy of
 * every module and Snapshot; with one worker there is nothing to run in parallel, so a sidecar with
 * one worker saves it. What a thread gives and this does not: a crash of the data plane is a crash
 * of the process (as Envoy's is), not a respawn.
 *
 * Messages keep a port's semantics: delivered in order on a later turn of the event loop, and
 * copied, except the Snapshot and its RuntimeSlots, which are frozen (nothing can write to them) and
 * so are shared.
 */
export class InThreadWorker extends EventEmitter {
  readonly threadId = threadId;
  private readonly toWorker = new EventEmitter();
  /** Messages sent before the worker module was loaded. */
  private pending: ToWorker[] | undefined = [];
  private exitCode: number | undefined;

  constructor(init: WorkerInit) {
    super();
    import('../worker/run.js').then(
      ({ runWorker }) => {
        if (this.exitCode !== undefined) return;
        const agentSide = { postMessage: (msg: FromWorker) => this.deliver(() => this.emit('message', msg)), on: (event: 'message', l: (msg: ToWorker) => void) => this.toWorker.on(event, l) };
        runWorker(init, agentSide, (code) => this.exited(code));
        const queued = this.pending ?? [];
        this.pending = undefined;
        for (const msg of queued) this.toWorker.emit('message', msg);
      },
      (err: Error) => {
        this.emit('error', err);
        this.exited(1);
      },
    );
  }

  postMessage(msg: ToWorker): void {
    if (this.exitCode !== undefined) return;
    // a Snapshot and its rows are frozen (nothing can write to them): shared, not copied
    const copy: ToWorker = msg.type === 'snapshot' ? msg : structuredClone(msg);
    this.deliver(() => {
      if (this.pending) this.pending.push(copy);
      else this.toWorker.emit('message', copy);
    });
  }

  /** The data plane cannot be stopped from outside its own thread: it stops hearing the agent. */
  terminate(): Promise<number> {
    this.exited(1);
    return Promise.resolve(1);
  }

  private deliver(fn: () => void): void {
    setImmediate(() => {
      if (this.exitCode === undefined) fn();
    });
  }

  private exited(code: number): void {
    if (this.exitCode !== undefined) return;
    this.exitCode = code;
    this.emit('exit', code);
  }
}
