/**
 * Cordon and drain (mco.md §5.4 step 6): mark the node unschedulable, evict every pod bound
 * to it through the Eviction subresource (so disruption budgets are honoured) except
 * DaemonSet pods and static (mirror) pods, and wait until they are gone. A pod still there at
 * the timeout fails the drain, naming it; the node stays cordoned.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Clock } from './clock.js';
import { DrainError } from './errors.js';
import type { NodeApi } from './kube.js';
import type { Logger } from './log.js';

const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

/** Pods a drain evicts: not DaemonSet-owned, not mirror pods, not finished. Pure. */
export function podsToEvict(pods: readonly k8s.V1Pod[]): k8s.V1Pod[] {
  return pods.filter((p) =>
    !(p.metadata?.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet' && o.controller !== false) &&
    !(p.metadata?.annotations ?? {})[MIRROR_ANNOTATION] &&
    p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
}

const podName = (p: k8s.V1Pod): string => `${p.metadata?.namespace ?? 'default'}/${p.metadata?.name}`;

export interface DrainOptions {
  api: NodeApi;
  clock: Clock;
  log: Logger;
  timeoutMs: number;
  /** How often the pods are looked at again while waiting. */
  pollMs?: number;
  signal?: AbortSignal;
}

/** Returns the seconds the drain took. */
export async function drainNode(opts: DrainOptions): Promise<number> {
  const { api, clock, log } = opts;
  const start = clock.now().getTime();
  await api.setUnschedulable(true);
  log.info(`Node ${api.nodeName} cordoned`);
  const evicted = new Set<string>();
  for (;;) {
    const remaining = podsToEvict(await api.podsOnNode());
    if (remaining.length === 0) break;
    const blocked: string[] = [];
    for (const pod of remaining) {
      const key = `${podName(pod)} ${pod.metadata?.uid ?? ''}`;
      if (evicted.has(key)) {
        blocked.push(`${podName(pod)} (evicted, still terminating${pod.metadata?.finalizers?.length ? `: finalizers ${pod.metadata.finalizers.join(', ')}` : ''})`);
        continue;
      }
      if (await api.evict(pod)) {
        evicted.add(key);
        log.info(`Evicted pod ${podName(pod)}`);
      } else {
        blocked.push(`${podName(pod)} (eviction refused: a disruption budget)`);
      }
    }
    const elapsed = clock.now().getTime() - start;
    if (blocked.length > 0 && elapsed >= opts.timeoutMs) {
      throw new DrainError(`failed to drain node ${api.nodeName}: timed out after ${Math.round(elapsed / 1000)} s waiting for pod ${blocked.join(', pod ')}`);
    }
    if (opts.signal?.aborted) throw new DrainError(`drain of node ${api.nodeName} interrupted`);
    if (blocked.length > 0) await clock.sleep(opts.pollMs ?? 1000, opts.signal);
  }
  const seconds = (clock.now().getTime() - start) / 1000;
  log.info('drain complete');
  log.info(`Successful drain took ${seconds} seconds`);
  return seconds;
}
