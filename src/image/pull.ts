/**
 * Pulling an image: its manifest (for this machine's platform), its config and its layers as
 * sources the extractor streams from the registry, every byte verified against its digest;
 * or a copy of the image into an OCI layout directory, as `skopeo copy docker://… oci:DIR`.
 */
import type { LayerSource } from './extract.js';
import { LAYER_COMPRESSION, parseImageConfig, type ImageConfig, type ImageManifest } from './media-types.js';
import { OciLayout } from './oci-layout.js';
import { formatImageReference, withDigest, type ImageReference } from './reference.js';
import { RegistryError, type RegistryClient, type ResolvedManifest } from './registry-client.js';

export interface PulledImage {
  reference: ImageReference;
  /** The image manifest's digest (after platform selection from a list). */
  digest: string;
  manifest: ImageManifest;
  config: ImageConfig;
  /** The layers in order, each opened from the registry when the extractor reaches it. */
  layers: LayerSource[];
  /** The manifest as the registry sent it, and the config blob: what `inspect --raw/--config` print. */
  resolved: ResolvedManifest;
  configBytes: Buffer;
}

/**
 * Resolves REF to one image and reads its config. Layer types the extractor cannot apply are
 * refused here, before anything is downloaded: the registry does not check them.
 */
export async function pullImage(client: RegistryClient, ref: ImageReference): Promise<PulledImage> {
  const resolved = await client.getManifest(ref);
  const { manifest, digest } = resolved;
  const name = formatImageReference(ref);
  // Everything after resolution is fetched by digest: a tag moved meanwhile cannot mix images.
  const pinned = withDigest(ref, digest);
  const configBytes = await client.getBlobBytes(pinned, manifest.config);
  let config: ImageConfig;
  try {
    config = parseImageConfig(configBytes, manifest, name);
  } catch (e) {
    throw new RegistryError((e as Error).message, ref.registry, { code: 'MANIFEST_INVALID', cause: e });
  }
  for (const layer of manifest.layers) {
    if (!(layer.mediaType in LAYER_COMPRESSION)) {
      throw new RegistryError(`${name}: layer ${layer.digest} has media type ${layer.mediaType}, which is not an image layer this tool can apply`, ref.registry, { code: 'UNSUPPORTED' });
    }
  }
  const layers = manifest.layers.map((layer, i): LayerSource => ({
    digest: layer.digest,
    mediaType: layer.mediaType,
    size: layer.size,
    diffId: config.rootfs.diff_ids[i]!,
    open: () => client.getBlob(pinned, layer),
  }));
  return { reference: ref, digest, manifest, config, layers, resolved, configBytes };
}

/**
 * Copies the image REF names into the OCI layout LAYOUTDIR (created when missing) under
 * REFNAME. Blobs already in the layout are not fetched again.
 */
export async function pullToLayout(client: RegistryClient, ref: ImageReference, target: { dir: string; refName?: string }): Promise<{ digest: string }> {
  const image = await pullImage(client, ref);
  const layout = await OciLayout.create(target.dir);
  const pinned = withDigest(ref, image.digest);
  for (const blob of image.manifest.layers) {
    if (await layout.hasBlob(blob.digest)) continue;
    await layout.putBlobFromStream(await client.getBlob(pinned, blob), blob.mediaType, { digest: blob.digest, size: blob.size });
  }
  await layout.putBlob(image.configBytes, image.manifest.config.mediaType);
  await layout.addManifest(image.resolved.bytes, image.resolved.mediaType, target.refName);
  return { digest: image.digest };
}
