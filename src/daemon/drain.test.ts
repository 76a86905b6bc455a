import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { podsToEvict } from './drain.js';

const pod = (name: string, extra: { owner?: string; mirror?: boolean; phase?: string } = {}): k8s.V1Pod => ({
  metadata: {
    name,
    namespace: 'ns',
    ...(extra.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: extra.owner, name: 'o', uid: 'u', controller: true }] } : {}),
    ...(extra.mirror ? { annotations: { 'kubernetes.io/config.mirror': 'x' } } : {}),
  },
  ...(extra.phase ? { status: { phase: extra.phase } } : {}),
});

test('podsToEvict() leaves DaemonSet pods, static (mirror) pods and finished pods', () => {
  const pods = [pod('app', { owner: 'ReplicaSet' }), pod('ds', { owner: 'DaemonSet' }), pod('static', { mirror: true }), pod('done', { phase: 'Succeeded' }), pod('bare', { phase: 'Running' })];
  assert.deepEqual(podsToEvict(pods).map((p) => p.metadata!.name), ['app', 'bare']);
});
