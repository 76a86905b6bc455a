/** Opens an image named either as an OCI layout (`oci:DIR[:REF]`) or as a registry reference. */
import { layerFromFile } from '../../image/extract-source.js';
import type { LayerSource } from '../../image/extract.js';
import { parseImageConfig, parseManifest, type ImageConfig } from '../../image/media-types.js';
import { OciLayout, OciLayoutError, parseOciLayoutReference } from '../../image/oci-layout.js';
import { pullImage } from '../../image/pull.js';
import { parseImageReference } from '../../image/reference.js';
import type { RegistryClient } from '../../image/registry-client.js';

export interface OpenedImage {
  digest: string;
  config: ImageConfig;
  layers: LayerSource[];
}

export async function openImage(text: string, client: () => RegistryClient): Promise<OpenedImage> {
  if (!text.startsWith('oci:')) return pullImage(client(), parseImageReference(text));
  const { dir, refName } = parseOciLayoutReference(text);
  const layout = await OciLayout.open(dir);
  const top = await layout.resolve(refName);
  const parsed = parseManifest(await layout.readBlob(top.digest), top.mediaType, text);
  if (parsed.kind !== 'image') throw new OciLayoutError(`${text} is an image index: name one image of it`);
  const config = parseImageConfig(await layout.readBlob(parsed.manifest.config.digest), parsed.manifest, text);
  const layers = parsed.manifest.layers.map((d, i) => layerFromFile(layout.blobPath(d.digest), { ...d, diffId: config.rootfs.diff_ids[i]! }));
  return { digest: top.digest, config, layers };
}
