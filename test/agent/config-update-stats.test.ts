import { describe, expect, it } from 'vitest';
import { ConfigUpdateStats } from '../../src/agent/config-update-stats.js';

describe('ConfigUpdateStats', () => {
  it("counts LDS and CDS updates under Envoy's names; only written stats are listed", () => {
    const s = new ConfigUpdateStats();
    expect(s.entries()).toEqual([]);
    s.record('lds', 'success', 'v1');
    s.record('cds', 'rejected');
    s.record('cds', 'failure');
    s.setWorkersStarted(true);
    s.setConnected(false);
    const e = Object.fromEntries(s.entries().map((w) => [w.name, w.value]));
    expect(e).toMatchObject({
      'listener_manager.lds.update_attempt': 1,
      'listener_manager.lds.update_success': 1,
      'cluster_manager.cds.update_attempt': 2,
      'cluster_manager.cds.update_rejected': 1,
      'cluster_manager.cds.update_failure': 1,
      'listener_manager.workers_started': 1,
      'control_plane.connected_state': 0,
    });
    expect(e['listener_manager.lds.update_rejected']).toBeUndefined();
    expect(e['cluster_manager.cds.version']).toBeUndefined();
    expect(Number.isSafeInteger(e['listener_manager.lds.version'])).toBe(true);
    expect(e['listener_manager.lds.update_time']).toBeGreaterThan(0);
    const types = Object.fromEntries(s.entries().map((w) => [w.name, w.type]));
    expect(types['listener_manager.lds.update_success']).toBe('counter');
    expect(types['listener_manager.lds.version']).toBe('gauge');
    expect(types['listener_manager.workers_started']).toBe('gauge');
  });

  it('the version gauge follows the version string', () => {
    const s = new ConfigUpdateStats();
    s.record('cds', 'success', 'a');
    const version = () => s.entries().find((w) => w.name === 'cluster_manager.cds.version')?.value;
    const a = version();
    s.record('cds', 'success', 'b');
    expect(version()).not.toBe(a);
    s.record('cds', 'success', 'a');
    expect(version()).toBe(a);
  });
});
