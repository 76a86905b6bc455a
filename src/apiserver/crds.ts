/**
 * The CustomResourceDefinitions the embedded apiserver starts with: read from the same YAML
 * files under `manifests/` that install on a real cluster, so the lab and production cannot
 * drift apart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** `manifests/` of the checkout: this module runs as dist/src/apiserver/crds.js. */
function manifestsDir(): string {
  return fileURLToPath(new URL('../../../manifests/', import.meta.url));
}

/** Every document of every `*.yaml` file in `dir`, in file-name order (the install order). */
export function loadManifests(dir: string = manifestsDir()): object[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  return files.flatMap((file) => {
    const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
    return docs.flatMap((doc, i) => {
      if (doc.errors.length > 0) throw new Error(`Invalid YAML in ${join(dir, file)} (document ${i + 1}): ${doc.errors[0]!.message}`);
      const value: unknown = doc.toJS({ maxAliasCount: -1 });
      if (value === null || value === undefined) return [];
      if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${join(dir, file)} (document ${i + 1}) is not a Kubernetes object`);
      return [value];
    });
  });
}

/** The CustomResourceDefinition objects among the shipped manifests. */
export function loadBuiltinCrds(): object[] {
  return loadManifests().filter((m) => (m as { kind?: unknown }).kind === 'CustomResourceDefinition');
}
