/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
 * a candidate creates the Lease or takes it over once the holder's renewTime has not moved for
 * a whole leaseDuration (measured on the candidate's own clock from when it last saw the
 * record change, so clocks need not agree); the leader renews every retryPeriod and stops
 * acting when it could not renew within renewDeadline (< leaseDuration), so two replicas
 * never both act. Every write is conditional on the resourceVersion read.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Klog } from '../api/klog.js';
import { apiMessage, isConflict, isNotFound } from './kube.js';

export interface LeaderElectionOptions {
  coordination: k8s.CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  log: Klog;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => number;
  /** Waits `ms` or until `signal` aborts (tests pass a fake clock's). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** client-go's defaults. */
export const DEFAULT_LEASE_DURATION_MS = 15_000;

export interface Elector {
  /** Resolves when this replica leads; the signal aborts when it stops leading. */
  leading: Promise<AbortSignal>;
  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  stop(): Promise<void>;
}

const realSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export function elect(opts: LeaderElectionOptions): Elector {
  const leaseDuration = opts.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
  const renewDeadline = opts.renewDeadlineMs ?? Math.floor((leaseDuration * 2) / 3);
  const retryPeriod = opts.retryPeriodMs ?? Math.max(Math.floor(leaseDuration / 7.5), 50);
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const stopping = new AbortController();
  const leadership = new AbortController();
  let observed: { record: string; at: number } | undefined;
  let lastRenew = 0;
  let isLeader = false;
  let resolveLeading: (s: AbortSignal) => void = () => {};
  const leading = new Promise<AbortSignal>((r) => (resolveLeading = r));
  const where = `${opts.namespace}/${opts.name}`;

  /** One attempt to acquire or renew; true when this replica holds the Lease afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    const t = now();
    const stamp = new Date(t) as k8s.V1MicroTime;
    let lease: k8s.V1Lease;
    try {
      lease = await opts.coordination.readNamespacedLease({ name: opts.name, namespace: opts.namespace });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const body: k8s.V1Lease = {
        metadata: { name: opts.name, namespace: opts.namespace },
        spec: { holderIdentity: opts.identity, leaseDurationSeconds: Math.ceil(leaseDuration / 1000), acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
      };
      try {
        await opts.coordination.createNamespacedLease({ namespace: opts.namespace, body });
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}|${lease.metadata?.resourceVersion ?? ''}`;
    if (observed?.record !== record) observed = { record, at: t };
    const holder = spec.holderIdentity ?? '';
    const mine = holder === opts.identity;
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(leaseDuration / 1000)) * 1000;
    if (!mine && holder !== '' && observed.at + durationMs > t) return false;
    const next: k8s.V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: opts.identity,
        leaseDurationSeconds: Math.ceil(leaseDuration / 1000),
        renewTime: stamp,
        ...(mine ? {} : { acquireTime: stamp, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      await opts.coordination.replaceNamespacedLease({ name: opts.name, namespace: opts.namespace, body: next });
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
    if (!mine) opts.log.info('leader.ts:108', `successfully acquired lease ${where}`);
    return true;
  }

  const campaign = (async (): Promise<void> => {
    opts.log.info('leader.ts:113', `attempting to acquire leader lease ${where}...`);
    while (!stopping.signal.aborted) {
      let held = false;
      try {
        held = await tryAcquireOrRenew();
      } catch (e) {
        opts.log.error('leader.ts:119', `error retrieving resource lock ${where}: ${apiMessage(e)}`);
      }
      if (stopping.signal.aborted) break;
      if (held) {
        lastRenew = now();
        if (!isLeader) {
          isLeader = true;
          resolveLeading(leadership.signal);
        }
      } else if (isLeader && now() - lastRenew > renewDeadline) {
        opts.log.error('leader.ts:129', `failed to renew lease ${where}: timed out waiting for the condition`);
        isLeader = false;
        leadership.abort();
        return;
      }
      await sleep(retryPeriod, stopping.signal);
    }
  })();

  return {
    leading,
    async stop() {
      stopping.abort();
      await campaign;
      if (!isLeader) return;
      isLeader = false;
      leadership.abort();
      try {
        const lease = await opts.coordination.readNamespacedLease({ name: opts.name, namespace: opts.namespace });
        if (lease.spec?.holderIdentity === opts.identity) {
          await opts.coordination.replaceNamespacedLease({
            name: opts.name,
            namespace: opts.namespace,
            body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
          });
        }
      } catch (e) {
        opts.log.warning('leader.ts:156', `releasing lease ${where}: ${apiMessage(e)}`);
      }
    },
  };
}
