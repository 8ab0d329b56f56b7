import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import type { OverloadStats } from '../telemetry/stats.js';

/** The overload manager's settings (structured-clone-safe, from the command line). */
export interface OverloadSettings {
  /** Envoy's fixed_heap max_heap_size_bytes; absent: the worker's own V8 heap limit. */
  maxHeapBytes?: number;
  /** Envoy's injected_resource monitor: a file holding a pressure from 0 to 1 (to exercise the actions). */
  injectedResourceFile?: string;
}

export const ResourceMonitor = {
  FixedHeap: 'envoy.resource_monitors.fixed_heap',
  InjectedResource: 'envoy.resource_monitors.injected_resource',
} as const;

export const OverloadAction = {
  RejectIncomingConnections: 'envoy.overload_actions.reject_incoming_connections',
  DisableHttpKeepalive: 'envoy.overload_actions.disable_http_keepalive',
  StopAcceptingRequests: 'envoy.overload_actions.stop_accepting_requests',
} as const;
export type OverloadActionName = (typeof OverloadAction)[keyof typeof OverloadAction];

/**
 * Threshold triggers on every monitor, as an Envoy overload_manager would configure them: new
 * connections are refused first; higher up, new requests get 503 and connections stop being kept
 * alive (idle ones are closed, busy ones close after their response).
 */
const THRESHOLDS: readonly [OverloadActionName, number][] = [
  [OverloadAction.RejectIncomingConnections, 0.95],
  [OverloadAction.DisableHttpKeepalive, 0.98],
  [OverloadAction.StopAcceptingRequests, 0.98],
];

/** Envoy's overload manager refresh_interval (its documented example: 250 ms). */
const REFRESH_INTERVAL_MS = 250;

/** What the data path reads: plain booleans, checked per connection and per request. */
export interface OverloadState {
  readonly rejectIncomingConnections: boolean;
  readonly disableHttpKeepalive: boolean;
  readonly stopAcceptingRequests: boolean;
}

/**
 * One worker's overload manager: samples its resource monitors on a timer (never per request)
 * and sets the action states. Heap is per worker thread (each has its own V8 heap and limit).
 */
export class OverloadManager implements OverloadState {
  rejectIncomingConnections = false;
  disableHttpKeepalive = false;
  stopAcceptingRequests = false;
  /** Called when an action changes state (the data plane drains connections on disable_http_keepalive). */
  onChange: ((action: OverloadActionName, active: boolean) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: OverloadSettings,
    private readonly stats: OverloadStats,
  ) {
    for (const [action] of THRESHOLDS) stats.active.set(action, false);
  }

  start(): void {
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Samples every monitor and updates the actions: an action is active when any monitor is over its threshold. */
  refresh(): void {
    let pressure = this.sample(ResourceMonitor.FixedHeap, () => {
      const h = getHeapStatistics();
      return h.used_heap_size / (this.settings.maxHeapBytes ?? h.heap_size_limit);
    });
    const file = this.settings.injectedResourceFile;
    if (file) pressure = Math.max(pressure, this.sample(ResourceMonitor.InjectedResource, () => injectedPressure(file)));
    for (const [action, threshold] of THRESHOLDS) this.set(action, pressure >= threshold);
  }

  private sample(monitor: string, read: () => number): number {
    try {
      const p = read();
      this.stats.pressure.set(monitor, p);
      return p;
    } catch {
      // Envoy keeps the last pressure of a monitor that failed to update, and counts the failure
      this.stats.failedUpdates.set(monitor, (this.stats.failedUpdates.get(monitor) ?? 0) + 1);
      return this.stats.pressure.get(monitor) ?? 0;
    }
  }

  private set(action: OverloadActionName, active: boolean): void {
    if (this.stats.active.get(action) === active) return;
    this.stats.active.set(action, active);
    switch (action) {
      case OverloadAction.RejectIncomingConnections:
        this.rejectIncomingConnections = active;
        break;
      case OverloadAction.DisableHttpKeepalive:
        this.disableHttpKeepalive = active;
        break;
      case OverloadAction.StopAcceptingRequests:
        this.stopAcceptingRequests = active;
        break;
    }
    this.onChange?.(action, active);
  }
}

/** Envoy's injected_resource: the file holds one number from 0 to 1; anything else fails the update. */
function injectedPressure(file: string): number {
  const text = readFileSync(file, 'utf8').trim();
  const p = Number(text);
  if (text === '' || !Number.isFinite(p) || p < 0 || p > 1) throw new Error(`${file}: not a pressure from 0 to 1`);
  return p;
}
