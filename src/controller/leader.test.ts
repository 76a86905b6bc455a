import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { createKlog } from '../api/klog.js';
import { elect } from './leader.js';

/** Time that moves only when every waiter is asleep: the next wake-up is jumped to. */
class FakeClock {
  t = 0;
  private timers: { at: number; wake: () => void }[] = [];
  now = (): number => this.t;
  sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      this.timers.push({ at: this.t + ms, wake: resolve });
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  async runUntil(end: number): Promise<void> {
    for (;;) {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.wake();
    }
    this.t = end;
  }
}

/** One Lease in memory, served as CoordinationV1Api serves it (resourceVersion checks, 404, 409). */
function fakeLeases(): { api: (down: () => boolean) => k8s.CoordinationV1Api } {
  let stored: k8s.V1Lease | undefined;
  let rv = 0;
  const fail = (code: number): never => {
    throw new k8s.ApiException(code, 'fake', '{}', {});
  };
  return {
    api: (down) =>
      ({
        async readNamespacedLease() {
          if (down()) throw new Error('connect ECONNREFUSED');
          return stored ? structuredClone(stored) : fail(404);
        },
        async createNamespacedLease({ body }: { body: k8s.V1Lease }) {
          if (down()) throw new Error('connect ECONNREFUSED');
          if (stored) fail(409);
          stored = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++rv) } };
          return stored;
        },
        async replaceNamespacedLease({ body }: { body: k8s.V1Lease }) {
          if (down()) throw new Error('connect ECONNREFUSED');
          if (body.metadata?.resourceVersion !== stored?.metadata?.resourceVersion) fail(409);
          stored = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++rv) } };
          return stored;
        },
      }) as unknown as k8s.CoordinationV1Api,
  };
}

test('elect(): a leader cut off from the API stops leading before the standby takes over, which it does within the lease duration', async () => {
  const clock = new FakeClock();
  const leases = fakeLeases();
  const log = createKlog({ now: () => new Date(clock.t), pid: 1, write: () => {} });
  let aDown = false;
  const common = { namespace: 'ns', name: 'lock', log, now: clock.now, sleep: clock.sleep, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
  const a = elect({ ...common, coordination: leases.api(() => aDown), identity: 'a' });
  let aLost: number | undefined;
  void a.leading.then((s) => s.addEventListener('abort', () => (aLost = clock.t)));
  await clock.runUntil(1_000);
  const b = elect({ ...common, coordination: leases.api(() => false), identity: 'b' });
  let bLeading: number | undefined;
  void b.leading.then(() => (bLeading = clock.t));
  await clock.runUntil(30_000);
  assert.equal(bLeading, undefined, 'b waits while a renews');
  aDown = true;
  const cutAt = clock.t;
  await clock.runUntil(120_000);
  assert.ok(aLost !== undefined && aLost <= cutAt + 10_000 + 2_000, `a stopped leading at ${aLost}, within its renew deadline of ${cutAt}`);
  assert.ok(bLeading !== undefined && bLeading > aLost, `b leads (${bLeading}) only after a stopped (${aLost})`);
  assert.ok(bLeading <= cutAt + 15_000 + 2 * 2_000, `b took over at ${bLeading}, within the lease duration of ${cutAt}`);
  aDown = false;
  const stopping = Promise.all([a.stop(), b.stop()]);
  await clock.runUntil(130_000);
  await stopping;
});
