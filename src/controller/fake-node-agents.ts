/**
 * Test-only stand-ins for machine-config-daemons: one informer on the Nodes, and for each
 * node it manages a script of what its daemon would do when its desiredConfig changes —
 * `Working` after `workingAfterMs`, then either `currentConfig = desiredConfig, Done` after
 * `doneAfterMs`, or `Degraded` with a reason when the script says this config fails. A node
 * whose desiredConfig goes back to its currentConfig reports Done again (the daemon's
 * validation of the config it runs). Writes go through client-node, as a daemon's.
 */
import * as k8s from '@kubernetes/client-node';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, REASON_ANNOTATION, STATE_ANNOTATION, nodeState } from '../api/node.js';
import { mergePatch } from '../api/client.js';
import { clientsFor } from './kube.js';

export interface AgentScript {
  workingAfterMs: number;
  doneAfterMs: number;
  /** The reason a node reports when told to move to `config`, if that move fails. */
  failure?: (node: string, config: string) => string | undefined;
}

export interface FakeAgents {
  /** Every annotation write the agents made, in order. */
  writes: { node: string; annotations: Record<string, string> }[];
  stop(): Promise<void>;
}

export async function startFakeAgents(kc: k8s.KubeConfig, nodes: readonly string[], script: AgentScript): Promise<FakeAgents> {
  const core = clientsFor(kc).core;
  const managed = new Set(nodes);
  const busy = new Map<string, string>();
  const timers = new Set<NodeJS.Timeout>();
  const writes: FakeAgents['writes'] = [];
  let stopped = false;
  const later = (ms: number, fn: () => Promise<void>): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (stopped) return resolve();
        fn().then(resolve, resolve);
      }, ms);
      timers.add(t);
    });
  const annotate = async (name: string, annotations: Record<string, string>): Promise<void> => {
    writes.push({ node: name, annotations });
    await core.patchNode({ name, body: { metadata: { annotations } } }, mergePatch);
  };

  const react = (n: k8s.V1Node): void => {
    const name = n.metadata?.name ?? '';
    if (!managed.has(name) || stopped) return;
    const a = n.metadata?.annotations ?? {};
    const desired = a[DESIRED_CONFIG_ANNOTATION] ?? '';
    const current = a[CURRENT_CONFIG_ANNOTATION] ?? '';
    const state = nodeState(a);
    if (!desired || busy.get(name) === desired) return;
    if (desired === current) {
      if (state !== 'Done') {
        busy.set(name, desired);
        void later(script.workingAfterMs, () => annotate(name, { [STATE_ANNOTATION]: 'Done', [REASON_ANNOTATION]: '' })).finally(() => busy.delete(name));
      }
      return;
    }
    busy.set(name, desired);
    void (async () => {
      await later(script.workingAfterMs, () => annotate(name, { [STATE_ANNOTATION]: 'Working', [REASON_ANNOTATION]: '' }));
      const failure = script.failure?.(name, desired);
      await later(script.doneAfterMs, () =>
        annotate(name, failure ? { [STATE_ANNOTATION]: 'Degraded', [REASON_ANNOTATION]: failure } : { [CURRENT_CONFIG_ANNOTATION]: desired, [STATE_ANNOTATION]: 'Done', [REASON_ANNOTATION]: '' }),
      );
      // Failed: stays busy on this config until told another one, as a degraded daemon retries the same.
      if (!failure && busy.get(name) === desired) busy.delete(name);
    })();
  };

  const informer = k8s.makeInformer(kc, '/api/v1/nodes', () => core.listNode());
  informer.on('add', react);
  informer.on('update', react);
  await informer.start();
  return {
    writes,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await informer.stop();
    },
  };
}
