// Consecutive-error counters shared by the workers (OutlierCounters): each detector's threshold
// is reported exactly once when crossed, a success resets, gateway errors are 502-504 only, and
// local-origin failures count as 503s unless split into their own detector. OutlierSlots: stable rows.
import { describe, expect, it } from 'vitest';
import type { OutlierDetection } from '../../src/config/snapshot.js';
import { NO_OUTLIER_ROW, OutlierCounters, OutlierSlots, outlierRowsByLabel } from '../../src/upstream/outlier.js';
import { endpointLabels, loadAssignment, staticHost } from '../../src/config/endpoints.js';

const od = (o: Partial<OutlierDetection>): OutlierDetection => ({
  consecutive5xx: 5,
  consecutiveGatewayFailure: 0,
  consecutiveLocalOriginFailure: 0,
  splitExternalLocalOriginErrors: false,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
  ...o,
});

const fresh = (slots = 4) => new OutlierCounters(OutlierCounters.create(slots));

describe('OutlierCounters.response', () => {
  it('consecutive5xx 3: the 3rd 5xx in a row reports consecutive_5xx, once; later ones do not', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 3 });
    expect(c.response(0, cfg, 500)).toBeUndefined();
    expect(c.response(0, cfg, 502)).toBeUndefined();
    expect(c.response(0, cfg, 500)).toBe('consecutive_5xx');
    expect(c.response(0, cfg, 500)).toBeUndefined();
    expect(c.response(0, cfg, 599)).toBeUndefined();
  });

  it('a success (< 500) resets: the count starts over', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 2 });
    expect(c.response(0, cfg, 500)).toBeUndefined();
    expect(c.response(0, cfg, 200)).toBeUndefined();
    expect(c.response(0, cfg, 500)).toBeUndefined();
    expect(c.response(0, cfg, 404)).toBeUndefined(); // 4xx is not an error for outlier detection
    expect(c.response(0, cfg, 500)).toBeUndefined();
    expect(c.response(0, cfg, 503)).toBe('consecutive_5xx');
    // after a reset the threshold can be reported again
    expect(c.response(0, cfg, 204)).toBeUndefined();
    expect(c.response(0, cfg, 500)).toBeUndefined();
    expect(c.response(0, cfg, 500)).toBe('consecutive_5xx');
  });

  it('consecutive5xx 0 disables the detector', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 0 });
    for (let i = 0; i < 20; i++) expect(c.response(0, cfg, 500)).toBeUndefined();
  });

  it('gateway failures are 502, 503 and 504 only: a 500 or 501 does not count', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 0, consecutiveGatewayFailure: 3 });
    for (let i = 0; i < 10; i++) expect(c.response(1, cfg, 500)).toBeUndefined();
    expect(c.response(1, cfg, 501)).toBeUndefined();
    expect(c.response(1, cfg, 502)).toBeUndefined();
    expect(c.response(1, cfg, 503)).toBeUndefined();
    expect(c.response(1, cfg, 504)).toBe('consecutive_gateway_failure');
    expect(c.response(1, cfg, 503)).toBeUndefined();
    // a success resets the gateway counter
    expect(c.response(2, cfg, 503)).toBeUndefined();
    expect(c.response(2, cfg, 503)).toBeUndefined();
    expect(c.response(2, cfg, 200)).toBeUndefined();
    expect(c.response(2, cfg, 503)).toBeUndefined();
    expect(c.response(2, cfg, 503)).toBeUndefined();
    expect(c.response(2, cfg, 503)).toBe('consecutive_gateway_failure');
  });

  it('a non-gateway 5xx breaks a run of gateway failures (Envoy resets consecutive_gateway_failure on it)', () => {
    // Envoy DetectorHostMonitorImpl::putHttpResponseCode: 5xx and not 502-504 → consecutive_gateway_failure_ = 0
    const c = fresh();
    const cfg = od({ consecutive5xx: 0, consecutiveGatewayFailure: 3 });
    expect(c.response(0, cfg, 502)).toBeUndefined();
    expect(c.response(0, cfg, 503)).toBeUndefined();
    expect(c.response(0, cfg, 500)).toBeUndefined();
    expect(c.response(0, cfg, 504)).toBeUndefined();
    expect(c.response(0, cfg, 503)).toBeUndefined();
    expect(c.response(0, cfg, 502)).toBe('consecutive_gateway_failure');
  });

  it('both detectors: each crosses its own threshold once; a response crossing both is reported once', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 2, consecutiveGatewayFailure: 3 });
    expect(c.response(0, cfg, 503)).toBeUndefined();
    expect(c.response(0, cfg, 503)).toBe('consecutive_5xx');
    expect(c.response(0, cfg, 503)).toBe('consecutive_gateway_failure');
    expect(c.response(0, cfg, 503)).toBeUndefined();

    const same = od({ consecutive5xx: 2, consecutiveGatewayFailure: 2 });
    expect(c.response(1, same, 502)).toBeUndefined();
    expect(c.response(1, same, 502)).toMatch(/^consecutive_(5xx|gateway_failure)$/);
    expect(c.response(1, same, 502)).toBeUndefined();
  });

  it('slots are independent; two views of one buffer (two workers) share each slot\'s counts', () => {
    const init = OutlierCounters.create(3);
    const w0 = new OutlierCounters(init);
    const w1 = new OutlierCounters(structuredClone(init));
    const cfg = od({ consecutive5xx: 3 });
    expect(w0.response(2, cfg, 500)).toBeUndefined();
    expect(w1.response(1, cfg, 500)).toBeUndefined();
    expect(w1.response(2, cfg, 500)).toBeUndefined();
    expect(w0.response(2, cfg, 500)).toBe('consecutive_5xx');
    // slot 1 had only one
    expect(w0.response(1, cfg, 500)).toBeUndefined();
    expect(w1.response(1, cfg, 500)).toBe('consecutive_5xx');
    // a success seen by one worker resets the count for the other
    expect(w0.response(0, cfg, 500)).toBeUndefined();
    expect(w0.response(0, cfg, 500)).toBeUndefined();
    expect(w1.response(0, cfg, 200)).toBeUndefined();
    expect(w0.response(0, cfg, 500)).toBeUndefined();
    expect(w0.response(0, cfg, 500)).toBeUndefined();
    expect(w1.response(0, cfg, 500)).toBe('consecutive_5xx');
  });
});

describe('OutlierCounters.localFailure', () => {
  it('not split: a local-origin failure counts as a 503 (5xx and gateway detectors)', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 2 });
    expect(c.localFailure(0, cfg)).toBeUndefined();
    expect(c.localFailure(0, cfg)).toBe('consecutive_5xx');
    const gw = od({ consecutive5xx: 0, consecutiveGatewayFailure: 2 });
    expect(c.localFailure(1, gw)).toBeUndefined();
    expect(c.response(1, gw, 504)).toBe('consecutive_gateway_failure');
    // mixed with responses: one count
    const mixed = od({ consecutive5xx: 3 });
    expect(c.response(2, mixed, 500)).toBeUndefined();
    expect(c.localFailure(2, mixed)).toBeUndefined();
    expect(c.response(2, mixed, 500)).toBe('consecutive_5xx');
  });

  it('split: local-origin failures have their own counter and detector; they do not touch the 5xx count', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 2, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 3 });
    expect(c.response(0, cfg, 500)).toBeUndefined();
    expect(c.localFailure(0, cfg)).toBeUndefined();
    expect(c.localFailure(0, cfg)).toBeUndefined();
    expect(c.localFailure(0, cfg)).toBe('consecutive_local_origin_failure');
    expect(c.localFailure(0, cfg)).toBeUndefined();
    // the 5xx count went on from 1
    expect(c.response(0, cfg, 500)).toBe('consecutive_5xx');
  });

  it('split: a success resets the local-origin counter', () => {
    const c = fresh();
    const cfg = od({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 2 });
    expect(c.localFailure(0, cfg)).toBeUndefined();
    expect(c.response(0, cfg, 200)).toBeUndefined();
    expect(c.localFailure(0, cfg)).toBeUndefined();
    expect(c.localFailure(0, cfg)).toBe('consecutive_local_origin_failure');
  });

  it('split with consecutiveLocalOriginFailure 0: local failures never report', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 1, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 0 });
    for (let i = 0; i < 10; i++) expect(c.localFailure(0, cfg)).toBeUndefined();
  });
});

describe('OutlierCounters.reset', () => {
  it('clears every counter of one slot only', () => {
    const c = fresh();
    const cfg = od({ consecutive5xx: 2, consecutiveGatewayFailure: 2, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 2 });
    for (const slot of [0, 1]) {
      expect(c.response(slot, cfg, 503)).toBeUndefined();
      expect(c.localFailure(slot, cfg)).toBeUndefined();
    }
    c.reset(0);
    expect(c.response(0, cfg, 503)).toBeUndefined();
    expect(c.localFailure(0, cfg)).toBeUndefined();
    // the 503 crosses both thresholds: Envoy checks gateway failures first
    expect(c.response(1, cfg, 503)).toBe('consecutive_gateway_failure');
    expect(c.localFailure(1, cfg)).toBe('consecutive_local_origin_failure');
  });
});

describe('OutlierSlots', () => {
  it('one stable row per (cluster, host), up to the capacity', () => {
    const s = new OutlierSlots(3);
    expect(s.slotFor('c1', '10.0.0.1:80')).toBe(0);
    expect(s.slotFor('c1', '10.0.0.2:80')).toBe(1);
    expect(s.slotFor('c2', '10.0.0.1:80')).toBe(2);
    expect(s.slotFor('c1', '10.0.0.1:80')).toBe(0);
    expect(s.slotFor('c2', '10.0.0.2:80')).toBeUndefined();
    expect(s.slotFor('c2', '10.0.0.1:80')).toBe(2);
  });

  it("a cluster's rows in its assignment's endpoint order (every locality, a repeated address twice, IPv6 bracketed), none past the capacity", () => {
    const s = new OutlierSlots(3);
    const a = loadAssignment('c', [staticHost('10.0.0.1', 80), { ...staticHost('fd00::1', 8080), priority: 1 }, staticHost('10.0.0.1', 80), staticHost('10.0.0.2', 80)]);
    // priority 0's locality group first, then priority 1's
    expect(endpointLabels(a)).toEqual(['10.0.0.1:80', '10.0.0.1:80', '10.0.0.2:80', '[fd00::1]:8080']);
    expect(s.rowsFor('c', endpointLabels(a))).toEqual([0, 0, 1, 2]);
    expect(s.rowsFor('d', ['10.0.0.1:80'])).toEqual([NO_OUTLIER_ROW]);
    // the worker's side: each label's row (a repeated address: its first), hosts without one left out
    const rows = outlierRowsByLabel(a, [0, 0, 1, NO_OUTLIER_ROW])!;
    expect([...rows]).toEqual([['10.0.0.1:80', 0], ['10.0.0.2:80', 1]]);
    expect(outlierRowsByLabel(a, undefined)).toBeUndefined();
  });
});
