/**
 * Image references (`quay.io/ns/repo:tag@sha256:…`): the distribution grammar with Docker
 * Hub's defaults (`busybox` → `docker.io/library/busybox:latest`). Pure: no I/O.
 *
 * Accepts `name:tag@digest` as `oc` does (the digest is what gets fetched; the tag is kept for
 * display), an optional `docker://` prefix (a skopeo habit), and refuses every other skopeo
 * transport by name so `oci:DIR` is never mistaken for a host called `oci`.
 */

export interface ImageReference {
  /** `docker.io`, `quay.io`, `127.0.0.1:5000`: the host key used in URLs and auth files. */
  registry: string;
  /** `library/busybox`, `ocp/machine-os-content`. */
  repository: string;
  tag?: string;
  /** `sha256:…` */
  digest?: string;
}

export class ImageReferenceError extends Error {
  override name = 'ImageReferenceError';
}

export const DOCKER_HUB = 'docker.io';
const MAX_NAME_LENGTH = 255;
/** skopeo's transports other than `docker:`; a reference starting with one is not a registry image. */
const OTHER_TRANSPORTS = ['oci', 'oci-archive', 'dir', 'docker-archive', 'docker-daemon', 'containers-storage', 'ostree', 'sif', 'tarball'];

const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT = /^[0-9]+$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };

/** Checks `algorithm:hex` and returns it, or throws naming what is wrong with it. */
export function validateDigest(digest: string, context = digest): string {
  const colon = digest.indexOf(':');
  const algorithm = colon < 0 ? '' : digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_ALGORITHMS[algorithm];
  if (colon < 0 || length === undefined) {
    throw new ImageReferenceError(`invalid digest in "${context}": expected sha256:<64 hex digits> or sha512:<128 hex digits>, got "${digest}"`);
  }
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    throw new ImageReferenceError(`invalid digest in "${context}": ${algorithm} needs exactly ${length} lowercase hex digits, got "${hex}" (${hex.length})`);
  }
  return digest;
}

function invalid(text: string, why: string): ImageReferenceError {
  return new ImageReferenceError(`invalid image reference "${text}": ${why}`);
}

/** True when the part before the first `/` names a registry host rather than a Docker Hub namespace. */
function isRegistryHost(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first;
}

function validateHost(text: string, host: string): void {
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    // An IPv6 literal: `[::1]:5000`.
    const close = host.indexOf(']');
    if (close < 0 || !/^[0-9a-fA-F:.]+$/.test(host.slice(1, close))) throw invalid(text, `malformed IPv6 registry host "${host}"`);
    const rest = host.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw invalid(text, `unexpected "${rest}" after the IPv6 address in "${host}"`);
    if (rest) port = rest.slice(1);
    name = '';
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) {
      port = host.slice(colon + 1);
      name = host.slice(0, colon);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) throw invalid(text, `registry port "${port}" is not a number from 0 to 65535`);
  for (const component of name ? name.split('.') : []) {
    if (!DOMAIN_COMPONENT.test(component)) throw invalid(text, `registry host "${host}" has an invalid component "${component}"`);
  }
}

function validateRepository(text: string, repository: string): void {
  for (const component of repository.split('/')) {
    if (component === '') throw invalid(text, `empty path component in repository "${repository}"`);
    if (!PATH_COMPONENT.test(component)) {
      if (PATH_COMPONENT.test(component.toLowerCase())) throw invalid(text, `repository name must be lowercase ("${repository}")`);
      throw invalid(text, `repository path component "${component}" may hold only a-z, 0-9 and single ".", "_", "__" or "-" separators between them`);
    }
  }
}

/** Parses an image reference as `oc`/`docker` do, with docker.io and `library/` defaults. */
export function parseImageReference(input: string): ImageReference {
  let text = input.trim();
  if (text === '') throw new ImageReferenceError('image reference is empty');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//.exec(text);
  if (scheme) {
    if (scheme[1] !== 'docker') throw invalid(input, `unsupported transport ${scheme[1]}:// (only docker:// registry references)`);
    text = text.slice(scheme[0].length);
  } else {
    const transport = /^([a-z-]+):/.exec(text)?.[1];
    if (transport && OTHER_TRANSPORTS.includes(transport) && !/^[a-z-]+:[0-9]+\//.test(text)) {
      throw invalid(input, `unsupported transport ${transport}: here (only registry references such as quay.io/ns/repo:tag or docker://…)`);
    }
  }

  const at = text.indexOf('@');
  let digest: string | undefined;
  let nameAndTag = text;
  if (at >= 0) {
    nameAndTag = text.slice(0, at);
    const rest = text.slice(at + 1);
    if (rest.includes('@')) throw invalid(input, 'more than one "@"');
    if (rest === '') throw invalid(input, 'nothing after "@" (expected a digest such as sha256:<64 hex digits>)');
    digest = validateDigest(rest, input);
  }

  let name = nameAndTag;
  let tag: string | undefined;
  const colon = nameAndTag.lastIndexOf(':');
  if (colon > nameAndTag.lastIndexOf('/')) {
    name = nameAndTag.slice(0, colon);
    tag = nameAndTag.slice(colon + 1);
    if (!TAG.test(tag)) {
      throw invalid(input, tag === '' ? 'empty tag after ":"' : `tag "${tag}" must be 1-128 characters of A-Z, a-z, 0-9, "_", "." or "-", not starting with "." or "-"`);
    }
  }
  if (name === '') throw invalid(input, 'no repository name');
  if (name.length > MAX_NAME_LENGTH) throw invalid(input, `repository name is ${name.length} characters long (at most ${MAX_NAME_LENGTH})`);

  let registry = DOCKER_HUB;
  let repository = name;
  const slash = name.indexOf('/');
  if (slash >= 0 && isRegistryHost(name.slice(0, slash))) {
    registry = name.slice(0, slash);
    repository = name.slice(slash + 1);
    validateHost(input, registry);
    if (repository === '') throw invalid(input, `no repository after the registry host "${registry}"`);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  validateRepository(input, repository);

  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/** `registry/repository[:tag][@digest]`, fully qualified (`docker.io/library/busybox:latest`). */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The same image pinned to a digest (the tag dropped): what every fetch after resolution uses. */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  return { registry: ref.registry, repository: ref.repository, digest };
}
