/**
 * ControllerConfig (machineconfiguration.openshift.io/v1, cluster-scoped, status
 * subresource): the single object through which the operator gives the controller the
 * cluster's facts, osImageURL first among them.
 */
import type { ConditionStatus, ObjectMeta, ObjectReference } from './meta.js';

export const CONTROLLER_CONFIG_KIND = 'ControllerConfig';
/** The one ControllerConfig the operator writes and the controller reads. */
export const CONTROLLER_CONFIG_NAME = 'machine-config-controller';

/** The fields the CRD requires are required here; byte fields are base64 strings. */
export interface ControllerConfigSpec {
  additionalTrustBundle: string | null;
  cloudProviderCAData?: string | null;
  cloudProviderConfig: string;
  clusterDNSIP: string;
  dns?: Record<string, unknown> | null;
  etcdDiscoveryDomain?: string;
  /** Image pull specs by name, for the templates. */
  images: Record<string, string>;
  /** The cluster's Infrastructure object (config.openshift.io/v1), as given. */
  infra: Record<string, unknown> | null;
  kubeAPIServerServingCAData: string;
  networkType?: string;
  /** From data.osImageURL of the machine-config-osimageurl ConfigMap. */
  osImageURL: string;
  /**
   * From data.osContentURL of the same ConfigMap: the cluster's OS content cache (`mco
   * os-content serve`), which daemons pull OSTree objects from instead of whole images; absent:
   * none, each node pulls the whole image.
   */
  osContentURL?: string;
  platform?: string;
  proxy: { httpProxy?: string; httpsProxy?: string; noProxy?: string } | null;
  pullSecret?: ObjectReference;
  releaseImage: string;
  rootCAData: string;
}

export type ControllerConfigConditionType = 'TemplateControllerRunning' | 'TemplateControllerCompleted' | 'TemplateControllerFailing';

export interface ControllerConfigCondition {
  type: ControllerConfigConditionType;
  status: ConditionStatus;
  lastTransitionTime: string | null;
  reason?: string;
  message?: string;
}

export interface ControllerConfigStatus {
  observedGeneration?: number;
  conditions?: ControllerConfigCondition[];
}

export interface ControllerConfig {
  apiVersion: 'machineconfiguration.openshift.io/v1';
  kind: 'ControllerConfig';
  metadata: ObjectMeta;
  spec: ControllerConfigSpec;
  status?: ControllerConfigStatus;
}
