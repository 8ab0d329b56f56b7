import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OverloadAction, OverloadManager, ResourceMonitor } from '../../src/worker/overload-manager.js';
import { OverloadStats } from '../../src/telemetry/stats.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overload-manager-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OverloadManager', () => {
  it('the injected resource drives the actions at their thresholds, and back', async () => {
    const file = join(dir, 'p1');
    const stats = new OverloadStats();
    // a heap limit nothing reaches, so the injected pressure decides
    const om = new OverloadManager({ maxHeapBytes: 2 ** 50, injectedResourceFile: file }, stats);
    const changes: string[] = [];
    om.onChange = (action, active) => changes.push(`${action}=${active}`);
    const at = async (p: string) => {
      await writeFile(file, p);
      om.refresh();
      return [om.rejectIncomingConnections, om.stopAcceptingRequests, om.disableHttpKeepalive];
    };
    expect(await at('0.5')).toEqual([false, false, false]);
    expect(await at('0.95')).toEqual([true, false, false]);
    expect(await at('0.98')).toEqual([true, true, true]);
    expect(stats.pressure.get(ResourceMonitor.InjectedResource)).toBe(0.98);
    expect(stats.active.get(OverloadAction.StopAcceptingRequests)).toBe(true);
    expect(await at('0')).toEqual([false, false, false]);
    expect(changes).toEqual([
      `${OverloadAction.RejectIncomingConnections}=true`,
      `${OverloadAction.DisableHttpKeepalive}=true`,
      `${OverloadAction.StopAcceptingRequests}=true`,
      `${OverloadAction.RejectIncomingConnections}=false`,
      `${OverloadAction.DisableHttpKeepalive}=false`,
      `${OverloadAction.StopAcceptingRequests}=false`,
    ]);
  });

  it('a monitor that cannot be read keeps its last pressure and counts failed_updates', async () => {
    const file = join(dir, 'p2');
    const stats = new OverloadStats();
    const om = new OverloadManager({ maxHeapBytes: 2 ** 50, injectedResourceFile: file }, stats);
    await writeFile(file, '0.99');
    om.refresh();
    for (const bad of ['', 'high', '1.5']) {
      await writeFile(file, bad);
      om.refresh();
    }
    await rm(file);
    om.refresh();
    expect(stats.failedUpdates.get(ResourceMonitor.InjectedResource)).toBe(4);
    expect(stats.pressure.get(ResourceMonitor.InjectedResource)).toBe(0.99);
    expect(om.stopAcceptingRequests).toBe(true);
  });

  it('the fixed heap: used heap over max_heap_size_bytes saturates every action', () => {
    const stats = new OverloadStats();
    const om = new OverloadManager({ maxHeapBytes: 1024 }, stats);
    om.refresh();
    expect(stats.pressure.get(ResourceMonitor.FixedHeap)).toBeGreaterThan(1);
    expect([om.rejectIncomingConnections, om.stopAcceptingRequests, om.disableHttpKeepalive]).toEqual([true, true, true]);
    const roomy = new OverloadManager({}, new OverloadStats());
    roomy.refresh(); // against V8's own heap limit: this test process is far from it
    expect(roomy.rejectIncomingConnections).toBe(false);
  });
});
