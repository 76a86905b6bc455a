/**
 * The render controller's decision (reference mco.md §3.2–§3.6): the MachineConfigs a pool
 * selects, merged in name order into one `rendered-<pool>-<hash>` MachineConfig whose
 * osImageURL comes from the ControllerConfig. Pure: the same pool, configs and
 * ControllerConfig always give the same rendered config and name.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { ControllerConfig } from '../api/controllerconfig.js';
import { MCO_API_VERSION } from '../api/group.js';
import { GENERATED_BY_CONTROLLER_VERSION_ANNOTATION, type IgnitionConfig, type MachineConfig, type MachineConfigSpec } from '../api/machineconfig.js';
import type { MachineConfigPool } from '../api/machineconfigpool.js';
import type { ObjectReference } from '../api/meta.js';
import { compactIgnition, IgnitionError, mergeIgnition, parseIgnition } from './ignition.js';
import { isEmptySelector, matchesSelector, selectorString } from './labels.js';

/** Why a pool's config cannot be rendered; `config` and `field` name the culprit when one is. */
export class RenderError extends Error {
  override name = 'RenderError';
  constructor(
    message: string,
    readonly config?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * Fixed salt of the MCO's rendered-name hash (`pkg/controller/render/hash.go`): data, kept
 * byte for byte so that the same merged spec gets the name a real controller would give it.
 */
const SALT = Buffer.from([
  16, 124, 206, 228, 139, 56, 175, 175, 79, 229, 134, 118, 157, 154, 211, 110, 25, 93, 47, 253, 172, 106, 37, 7, 174, 13, 160, 185, 110, 17, 87, 52, 219, 131, 12, 206, 218, 141,
  116, 135, 188, 181, 192, 151, 233, 62, 126, 165, 64, 83, 179, 119, 15, 168, 208, 197, 146, 107, 58, 227, 133, 188, 238, 26, 33, 26, 235, 202, 32, 173, 31, 234, 41, 144, 148, 79, 6,
  206, 23, 22,
]);

/**
 * The merged spec as the MCO hashes it: its JSON re-emitted as YAML with map keys sorted, no
 * line folding and YAML 1.1 scalar quoting (what ghodss/yaml over go-yaml v2.3 produces for
 * the values a spec holds: strings, whole numbers, booleans, lists, maps).
 */
export function specYaml(spec: MachineConfigSpec): string {
  return stringify(JSON.parse(JSON.stringify(spec)), { version: '1.1', sortMapEntries: true, lineWidth: 0, indentSeq: false, defaultStringType: 'PLAIN' });
}

/** `rendered-<pool>-<md5(salt ‖ yaml(spec)) in hex>` (mco.md §3.5). */
export function renderedName(poolName: string, spec: MachineConfigSpec): string {
  const md5 = createHash('md5').update(SALT).update(specYaml(spec)).digest('hex');
  return `rendered-${poolName}-${md5}`;
}

const KERNEL_TYPES = ['', 'default', 'realtime'];

/** The configs a pool's machineConfigSelector picks, in name order; rendered configs have no labels and never match. */
export function selectConfigs(pool: MachineConfigPool, configs: readonly MachineConfig[]): MachineConfig[] {
  const selector = pool.spec.machineConfigSelector;
  if (isEmptySelector(selector)) return [];
  return configs
    .filter((mc) => Object.keys(mc.metadata.labels ?? {}).length > 0 && matchesSelector(selector!, mc.metadata.labels))
    .sort((a, b) => byteCompare(a.metadata.name!, b.metadata.name!));
}

const byteCompare = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Merges configs already in name order (mco.md §3.3): Ignition merged in order, osImageURL
 * from the ControllerConfig only, kernel arguments and extensions concatenated, fips if any,
 * kernelType realtime if any.
 */
export function mergeMachineConfigs(configs: readonly MachineConfig[], osImageURL: string): MachineConfigSpec {
  let ignition: ReturnType<typeof parseIgnition> | undefined;
  const kernelArguments: string[] = [];
  const extensions: string[] = [];
  let fips = false;
  let realtime = false;
  for (const mc of configs) {
    const name = mc.metadata.name!;
    const spec = mc.spec ?? {};
    const kernelType = spec.kernelType ?? '';
    if (!KERNEL_TYPES.includes(kernelType)) throw new RenderError(`MachineConfig ${name}: spec.kernelType: kernelType=${kernelType} is invalid`, name, 'spec.kernelType');
    let parsed;
    try {
      parsed = parseIgnition(spec.config);
    } catch (e) {
      if (e instanceof IgnitionError) throw new RenderError(`MachineConfig ${name}: ${e.message}`, name, e.field);
      throw e;
    }
    ignition = ignition === undefined ? parsed : spec.config === undefined ? ignition : mergeIgnition(ignition, parsed);
    kernelArguments.push(...(spec.kernelArguments ?? []));
    extensions.push(...(spec.extensions ?? []));
    fips ||= spec.fips === true;
    realtime ||= kernelType === 'realtime';
  }
  const kernelType = realtime ? 'realtime' : 'default';
  if (kernelType !== 'default' && extensions.includes('kernel-devel')) {
    throw new RenderError(`installing kernel-devel extension is not supported with kernelType: ${kernelType}`, undefined, 'spec.extensions');
  }
  return {
    osImageURL,
    config: compactIgnition(ignition ?? parseIgnition(undefined)) as unknown as IgnitionConfig,
    kernelArguments,
    extensions,
    fips,
    kernelType,
  };
}

export interface RenderOptions {
  /** Written as generated-by-controller-version (the GENERATEDBYCONTROLLER column). */
  controllerVersion: string;
}

export interface Rendered {
  config: MachineConfig;
  /** The input configs, name-sorted: the pool's spec.configuration.source. */
  source: ObjectReference[];
}

/**
 * The rendered MachineConfig of `pool` (§3.2 steps 4–6): owned by the pool, annotated with the
 * controller's version, no labels. Throws RenderError when nothing is selected or a selected
 * config is invalid, naming the config and field.
 */
export function renderPool(pool: MachineConfigPool, configs: readonly MachineConfig[], controllerConfig: ControllerConfig, opts: RenderOptions): Rendered {
  const poolName = pool.metadata.name!;
  const selected = selectConfigs(pool, configs);
  if (selected.length === 0) {
    throw new RenderError(`no MachineConfigs found matching selector ${selectorString(pool.spec.machineConfigSelector)}`, undefined, 'spec.machineConfigSelector');
  }
  const spec = mergeMachineConfigs(selected, controllerConfig.spec.osImageURL ?? '');
  const name = renderedName(poolName, spec);
  return {
    config: {
      apiVersion: MCO_API_VERSION,
      kind: 'MachineConfig',
      metadata: {
        name,
        annotations: { [GENERATED_BY_CONTROLLER_VERSION_ANNOTATION]: opts.controllerVersion },
        ownerReferences: [{ apiVersion: MCO_API_VERSION, kind: 'MachineConfigPool', name: poolName, uid: pool.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      spec,
    },
    source: selected.map((mc) => ({ apiVersion: MCO_API_VERSION, kind: 'MachineConfig', name: mc.metadata.name! })),
  };
}

/** The RenderDegraded message of the real controller (§1.3). */
export const renderFailedMessage = (pool: string, err: Error): string => `Failed to render configuration for pool ${pool}: ${err.message}`;
