/**
 * Pushing an image from an OCI layout directory (as I3's OciLayout and skopeo's `oci:DIR:REF`
 * write it) to a registry: blobs first (skipped when present, mounted when the registry
 * has them in another repository), child manifests of an index next, the named manifest last,
 * so the registry never holds a manifest whose blobs are missing.
 */
import { IMAGE_MANIFEST_TYPES, parseManifest, type Descriptor, type ImageManifest } from './media-types.js';
import { OciLayout, OciLayoutError } from './oci-layout.js';
import { withDigest, type ImageReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';

export async function pushLayout(client: RegistryClient, layoutDir: string, refName: string | undefined, target: ImageReference): Promise<{ digest: string }> {
  const layout = await OciLayout.open(layoutDir);
  const top = await layout.resolve(refName);
  const bytes = await layout.readBlob(top.digest);
  const parsed = parseManifest(bytes, top.mediaType, `${layoutDir}${refName ? `:${refName}` : ''}`);
  if (parsed.kind === 'index') {
    for (const child of parsed.index.manifests) {
      if (!IMAGE_MANIFEST_TYPES.includes(child.mediaType)) throw new OciLayoutError(`Index ${top.digest} in ${layoutDir} names ${child.digest} of type ${child.mediaType}, which cannot be pushed`);
      const childBytes = await layout.readBlob(child.digest);
      const childParsed = parseManifest(childBytes, child.mediaType, `${layoutDir} manifest ${child.digest}`);
      if (childParsed.kind !== 'image') throw new OciLayoutError(`Index ${top.digest} in ${layoutDir}: nested index ${child.digest} is not supported`);
      await pushBlobs(client, layout, childParsed.manifest, target);
      await client.putManifest(withDigest(target, child.digest), childBytes, child.mediaType);
    }
  } else {
    await pushBlobs(client, layout, parsed.manifest, target);
  }
  const digest = await client.putManifest(target, bytes, parsed.mediaType);
  return { digest };
}

async function pushBlobs(client: RegistryClient, layout: OciLayout, manifest: ImageManifest, target: ImageReference): Promise<void> {
  const blobs: Descriptor[] = [...manifest.layers, manifest.config];
  for (const blob of blobs) {
    if (!(await layout.hasBlob(blob.digest))) throw new OciLayoutError(`Blob ${blob.digest} named by the manifest is missing from OCI layout ${layout.dir}`);
  }
  for (const blob of blobs) await client.putBlob(target, blob, () => layout.openBlob(blob.digest));
}
