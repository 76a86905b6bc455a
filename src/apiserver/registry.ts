/**
 * The resources being served right now: the built-in kinds plus one entry per served version
 * of each stored CustomResourceDefinition, rebuilt whenever a CRD is written.
 */
import { BUILTIN_RESOURCES, resourcesOfCrd, type CrdObject, type ResourceDef } from './resources.js';

export interface ApiGroup {
  /** '' for the core group. */
  name: string;
  /** Served versions, preferred first. */
  versions: string[];
}

export class ResourceRegistry {
  private defs: ResourceDef[] = [...BUILTIN_RESOURCES];

  /** Replaces the custom resources with those of `crds`. */
  setCrds(crds: CrdObject[]): void {
    this.defs = [...BUILTIN_RESOURCES, ...crds.flatMap(resourcesOfCrd)];
  }

  all(): readonly ResourceDef[] {
    return this.defs;
  }

  find(group: string, version: string, plural: string): ResourceDef | undefined {
    return this.defs.find((d) => d.group === group && d.version === version && d.plural === plural);
  }

  inGroupVersion(group: string, version: string): ResourceDef[] {
    return this.defs.filter((d) => d.group === group && d.version === version);
  }

  /** Groups in a stable order: core, the built-in groups, then custom ones as defined. */
  groups(): ApiGroup[] {
    const out = new Map<string, string[]>();
    for (const d of this.defs) {
      const versions = out.get(d.group) ?? [];
      if (!versions.includes(d.version)) versions.push(d.version);
      out.set(d.group, versions);
    }
    return [...out].map(([name, versions]) => ({ name, versions }));
  }
}
