/**
 * The operator (reference mco.md §1.6, §7): creates the default pools and the template
 * MachineConfigs when absent, and turns the `machine-config-osimageurl` ConfigMap into
 * ControllerConfig `machine-config-controller` — only when the ConfigMap's releaseVersion is
 * the operator's own version (`decideOsImageURL`). A refusal is logged as the real operator
 * logs it (klog E-line), recorded as an Event on the ConfigMap and as the `machine-config`
 * ClusterOperator's Degraded condition, and the last accepted osImageURL stays in force.
 */
import type * as k8s from '@kubernetes/client-node';
import { CONTROLLER_CONFIG_NAME, type ControllerConfig } from '../api/controllerconfig.js';
import { MCO_API_VERSION } from '../api/group.js';
import type { MachineConfig } from '../api/machineconfig.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
import { MCO_NAMESPACE, OSIMAGEURL_CONFIGMAP } from '../api/node.js';
import { deepEqual } from './equal.js';
import type { ControllerContext } from './context.js';
import { apiMessage, CCS, CLUSTER_OPERATORS, CONFIGS, isAlreadyExists, isNotFound, metaTime, POOLS, retryOnConflict, updateFromStore } from './kube.js';
import { decideOsImageURL } from './osimageurl.js';
import { WorkQueue } from './queue.js';
import type { ObjectStore } from './store.js';
import { defaultPool, ROLES, templateConfigs } from './templates.js';

/** Annotation on the ControllerConfig: the operator version that wrote it (§3.6). */
export const GENERATED_BY_VERSION_ANNOTATION = 'machineconfiguration.openshift.io/generated-by-version';
export const CLUSTER_OPERATOR_NAME = 'machine-config';

export interface OperatorOptions extends ControllerContext {
  configMaps: ObjectStore<k8s.V1ConfigMap>;
  pools: ObjectStore<MachineConfigPool>;
  configs: ObjectStore<MachineConfig>;
  controllerConfigs: ObjectStore<ControllerConfig>;
  /** RELEASE_VERSION: the only releaseVersion whose osImageURL is accepted. */
  releaseVersion: string;
  controllerVersion: string;
}

const KEY = 'machine-config';

type Condition = { type: string; status: 'True' | 'False' | 'Unknown'; lastTransitionTime: string; reason?: string; message?: string };

export class Operator {
  readonly queue: WorkQueue;
  /** The last refusal logged, so an unchanged ConfigMap is not logged again on every resync. */
  private lastRefusal = '';

  constructor(private readonly o: OperatorOptions) {
    this.queue = new WorkQueue(() => this.sync(), { name: 'operator', log: o.log });
  }

  changed(): void {
    this.queue.add(KEY);
  }

  async sync(): Promise<void> {
    await this.ensureDefaults();
    const cm = this.o.configMaps.get(OSIMAGEURL_CONFIGMAP, MCO_NAMESPACE);
    const cc = this.o.controllerConfigs.get(CONTROLLER_CONFIG_NAME);
    const decision = decideOsImageURL(cm, this.o.releaseVersion, cc?.spec.osImageURL ?? '');
    if (!decision.accept) {
      if (decision.message !== this.lastRefusal) {
        this.o.log.error('operator.ts:61', decision.message);
        this.lastRefusal = decision.message;
      }
      if (cm) {
        await this.o.events.event(
          { apiVersion: 'v1', kind: 'ConfigMap', name: OSIMAGEURL_CONFIGMAP, namespace: MCO_NAMESPACE, ...(cm.metadata?.uid ? { uid: cm.metadata.uid } : {}) },
          'Warning',
          'OSImageURLRefused',
          decision.field ? `${decision.field}: ${decision.message}` : decision.message,
        );
      }
      await this.setClusterOperator({ degraded: `Failed to resync ${this.o.releaseVersion} because: ${decision.message}` });
      return;
    }
    this.lastRefusal = '';
    await this.writeControllerConfig(decision.osImageURL, decision.osContentURL);
    await this.setClusterOperator({});
  }

  /** Pools and template configs that are absent are created; existing ones are left to their owners. */
  private async ensureDefaults(): Promise<void> {
    for (const role of ROLES) {
      if (!this.o.pools.get(role)) await this.createIfAbsent(POOLS, defaultPool(role), (o) => this.o.pools.upsert(o as MachineConfigPool));
      for (const mc of templateConfigs(role, this.o.controllerVersion)) {
        if (!this.o.configs.get(mc.metadata.name!)) await this.createIfAbsent(CONFIGS, mc, (o) => this.o.configs.upsert(o as MachineConfig));
      }
    }
  }

  private async createIfAbsent(r: typeof POOLS, body: { kind: string; metadata: { name?: string } }, keep: (o: unknown) => void): Promise<void> {
    try {
      keep(await this.o.clients.custom.createClusterCustomObject({ ...r, body }));
      this.o.log.info('operator.ts:93', `Created ${body.kind} ${body.metadata.name}`);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
  }

  private async writeControllerConfig(osImageURL: string, osContentURL: string): Promise<void> {
    const annotationsOf = (cc?: ControllerConfig): Record<string, string> => ({ ...cc?.metadata.annotations, [GENERATED_BY_VERSION_ANNOTATION]: this.o.releaseVersion });
    const written = (): void => this.o.log.info('operator.ts:101', `ControllerConfig ${CONTROLLER_CONFIG_NAME}: osImageURL ${osImageURL}${osContentURL ? `, osContentURL ${osContentURL}` : ''} (release ${this.o.releaseVersion})`);
    if (!this.o.controllerConfigs.get(CONTROLLER_CONFIG_NAME)) {
      const body: ControllerConfig = {
        apiVersion: MCO_API_VERSION,
        kind: 'ControllerConfig',
        metadata: { name: CONTROLLER_CONFIG_NAME, annotations: annotationsOf() },
        spec: { osImageURL, ...(osContentURL ? { osContentURL } : {}), additionalTrustBundle: null, cloudProviderConfig: '', clusterDNSIP: '', images: {}, infra: null, kubeAPIServerServingCAData: '', proxy: null, releaseImage: '', rootCAData: '' },
      };
      // Already there (another writer was first): the informer brings it and the retry updates it.
      this.o.controllerConfigs.upsert((await this.o.clients.custom.createClusterCustomObject({ ...CCS, body })) as ControllerConfig);
      written();
      return;
    }
    await updateFromStore(this.o.clients.custom, CCS, CONTROLLER_CONFIG_NAME, this.o.controllerConfigs, (current) => {
      const annotations = annotationsOf(current);
      if (current.spec.osImageURL === osImageURL && (current.spec.osContentURL ?? '') === osContentURL && deepEqual(current.metadata.annotations ?? {}, annotations)) return undefined;
      written();
      const spec: ControllerConfig['spec'] = { ...current.spec, osImageURL, osContentURL };
      // A cache no longer named is removed, not published as ''.
      if (!osContentURL) delete spec.osContentURL;
      return this.o.clients.custom.replaceClusterCustomObject({ ...CCS, name: CONTROLLER_CONFIG_NAME, body: { ...current, metadata: { ...current.metadata, annotations }, spec } });
    });
  }

  /**
   * The `machine-config` ClusterOperator's conditions (§7.4): Degraded with the refusal, or
   * Available at this version. Written when the CRD is installed; a cluster without it is
   * told so once in the log.
   */
  private async setClusterOperator(state: { degraded?: string }): Promise<void> {
    const now = metaTime(this.o.now());
    const v = this.o.releaseVersion;
    const wanted: Condition[] = state.degraded
      ? [
          { type: 'Degraded', status: 'True', lastTransitionTime: now, reason: 'RenderConfigFailed', message: state.degraded },
          { type: 'Available', status: 'False', lastTransitionTime: now, reason: '', message: `Cluster not available for ${v}` },
          { type: 'Progressing', status: 'False', lastTransitionTime: now, reason: '', message: `Cluster version is ${v}` },
        ]
      : [
          { type: 'Degraded', status: 'False', lastTransitionTime: now, reason: '', message: '' },
          { type: 'Available', status: 'True', lastTransitionTime: now, reason: '', message: `Cluster has deployed ${v}` },
          { type: 'Progressing', status: 'False', lastTransitionTime: now, reason: '', message: `Cluster version is ${v}` },
        ];
    try {
      await retryOnConflict(async () => {
        let co: { metadata: { name: string; resourceVersion?: string }; status?: { conditions?: Condition[]; versions?: unknown[] } };
        try {
          co = (await this.o.clients.custom.getClusterCustomObject({ ...CLUSTER_OPERATORS, name: CLUSTER_OPERATOR_NAME })) as typeof co;
        } catch (e) {
          if (!isNotFound(e)) throw e;
          co = (await this.o.clients.custom.createClusterCustomObject({
            ...CLUSTER_OPERATORS,
            body: { apiVersion: 'config.openshift.io/v1', kind: 'ClusterOperator', metadata: { name: CLUSTER_OPERATOR_NAME }, spec: {} },
          })) as typeof co;
        }
        const old = co.status?.conditions ?? [];
        const conditions = wanted.map((w) => {
          const o = old.find((c) => c.type === w.type);
          return o && o.status === w.status ? { ...w, lastTransitionTime: o.lastTransitionTime } : w;
        });
        const versions = [{ name: 'operator', version: v }];
        if (deepEqual(old, conditions) && deepEqual(co.status?.versions ?? [], versions)) return;
        await this.o.clients.custom.replaceClusterCustomObjectStatus({ ...CLUSTER_OPERATORS, name: CLUSTER_OPERATOR_NAME, body: { ...co, status: { ...co.status, conditions, versions } } });
      });
    } catch (e) {
      if (isNotFound(e)) {
        this.o.log.warning('operator.ts:167', `ClusterOperator ${CLUSTER_OPERATOR_NAME} not written: the clusteroperators.config.openshift.io CRD is not installed`);
        return;
      }
      throw new Error(`writing ClusterOperator ${CLUSTER_OPERATOR_NAME}: ${apiMessage(e)}`);
    }
  }
}
