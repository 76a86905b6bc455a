/**
 * An event recorder as client-go's: Events about cluster-scoped objects go to the `default`
 * namespace; an event repeated (same object, type, reason, message) bumps the count and
 * lastTimestamp of the first instead of piling up new ones. Failures to record are logged,
 * never fatal.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Klog } from '../api/klog.js';
import { mergePatch } from '../api/client.js';
import { apiMessage } from './kube.js';

export interface InvolvedObject {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  event(obj: InvolvedObject, type: EventType, reason: string, message: string): Promise<void>;
}

export function eventRecorder(opts: { core: k8s.CoreV1Api; component: string; host?: string; log: Klog; now?: () => Date }): EventRecorder {
  const now = opts.now ?? ((): Date => new Date());
  const seen = new Map<string, { name: string; namespace: string; count: number }>();
  let serial = 0;
  return {
    async event(obj, type, reason, message) {
      const namespace = obj.namespace || 'default';
      const key = JSON.stringify([obj.kind, obj.namespace ?? '', obj.name, type, reason, message]);
      const t = now();
      const prior = seen.get(key);
      try {
        if (prior) {
          prior.count++;
          await opts.core.patchNamespacedEvent({ name: prior.name, namespace: prior.namespace, body: { count: prior.count, lastTimestamp: t.toISOString() } }, mergePatch);
          return;
        }
        const name = `${obj.name}.${(t.getTime() * 1000 + (serial++ % 1000)).toString(16)}`;
        await opts.core.createNamespacedEvent({
          namespace,
          body: {
            metadata: { name, namespace },
            involvedObject: obj,
            reason,
            message,
            type,
            source: { component: opts.component, ...(opts.host ? { host: opts.host } : {}) },
            reportingComponent: opts.component,
            firstTimestamp: t,
            lastTimestamp: t,
            count: 1,
          },
        });
        seen.set(key, { name, namespace, count: 1 });
      } catch (e) {
        opts.log.warning('events.ts:60', `could not record event ${reason} on ${obj.kind} ${obj.name}: ${apiMessage(e)}`);
        seen.delete(key);
      }
    },
  };
}
