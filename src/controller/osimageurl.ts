/**
 * The operator's decision on the `machine-config-osimageurl` ConfigMap (reference mco.md
 * §7.1–§7.2): its osImageURL is accepted only when its releaseVersion is the operator's own
 * version, and only when it is a digest pull spec (what the MCO's docs require; a tag could
 * move under a rollout). A refusal keeps the last accepted osImageURL. Beside it, the optional
 * `data.osContentURL` names the cluster's OS content cache (issue 15), which the daemons pull
 * OSTree objects from instead of whole images; it must be an http(s) URL.
 */
import { MCO_NAMESPACE, OSIMAGEURL_CONFIGMAP } from '../api/node.js';

export interface ConfigMapLike {
  metadata?: { name?: string; namespace?: string };
  data?: { [key: string]: string };
}

export type OsImageDecision =
  /** `osContentURL`: '' when the ConfigMap names no cache. `changed`: the osImageURL changed. */
  | { accept: true; osImageURL: string; osContentURL: string; changed: boolean }
  /** `field` names what is wrong in the ConfigMap; `message` is what is logged and reported. */
  | { accept: false; field: string; message: string; osImageURL: string };

/** `registry/repo[:tag]@sha256:<64 hex>`: the digest pull spec a release payload names. */
const DIGEST_REF = /^[A-Za-z0-9][A-Za-z0-9._:/-]*@sha256:[0-9a-f]{64}$/;

export const isDigestReference = (ref: string): boolean => DIGEST_REF.test(ref);

const where = `ConfigMap ${MCO_NAMESPACE}/${OSIMAGEURL_CONFIGMAP}`;

/**
 * Accept or refuse the ConfigMap's osImageURL. `lastAccepted` is the ControllerConfig's
 * current osImageURL ('' before the first), kept on refusal.
 */
export function decideOsImageURL(configMap: ConfigMapLike | undefined, operatorVersion: string, lastAccepted: string): OsImageDecision {
  const refuse = (field: string, message: string): OsImageDecision => ({ accept: false, field, message, osImageURL: lastAccepted });
  if (!configMap) return refuse('', `${where} not found`);
  const data = configMap.data ?? {};
  const version = data['releaseVersion'];
  if (version !== operatorVersion) return refuse('data.releaseVersion', `refusing to read osImageURL version ${JSON.stringify(version ?? '')}, operator version ${JSON.stringify(operatorVersion)}`);
  const url = data['osImageURL'];
  if (url === undefined || url === '') return refuse('data.osImageURL', `${where}: data.osImageURL is missing`);
  if (!isDigestReference(url)) return refuse('data.osImageURL', `${where}: data.osImageURL ${JSON.stringify(url)} is not a digest reference (NAME@sha256:DIGEST)`);
  const osContentURL = data['osContentURL'] ?? '';
  if (osContentURL !== '' && !isHttpUrl(osContentURL)) return refuse('data.osContentURL', `${where}: data.osContentURL ${JSON.stringify(osContentURL)} is not an http(s) URL (e.g. http://os-content.example:8090)`);
  return { accept: true, osImageURL: url, osContentURL, changed: url !== lastAccepted };
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '' && u.hash === '';
  } catch {
    return false; // not a URL at all
  }
}
