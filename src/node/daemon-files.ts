/**
 * The daemon's own records on a host (mco.md §2, §5.4 step 9, §5.5): the config last written
 * (`/etc/machine-config-daemon/currentconfig`, the whole MachineConfig as JSON), the update
 * journal, the bootstrap annotations a new node is installed with, and the one-shot force
 * file. The journal stands in for the original's journald "pending state" entry: it lives in
 * the stateroot's /var, shared by every deployment, so the next boot reads what this boot
 * wrote whichever deployment it boots; it also records an update from its start, so a daemon
 * killed part-way knows on restart that the host is between two configs.
 */
import { renameSync, rmSync } from 'node:fs';
import { writeAtomic, MCD_STATE_DIR } from './host-files.js';
import { observe, type HostRoot } from './host-root.js';

export const CURRENT_CONFIG_PATH = `${MCD_STATE_DIR}/currentconfig`;
export const NODE_ANNOTATIONS_PATH = `${MCD_STATE_DIR}/node-annotations.json`;
/** The original renames the bootstrap file to this (note the singular "annotation"). */
export const NODE_ANNOTATIONS_BAK_PATH = `${MCD_STATE_DIR}/node-annotation.json.bak`;
export const UPDATE_JOURNAL_PATH = '/var/lib/machine-config-daemon/update.json';
export const FORCE_FILE_PATH = '/run/machine-config-daemon-force';

export class DaemonFileError extends Error {
  override name = 'DaemonFileError';
}

/** An update in progress: `started` from before the first host change, `pending` once only the reboot is left. */
export interface UpdateJournal {
  from: string | null;
  to: string;
  step: 'started' | 'pending';
  /** The boot the entry was written in. */
  bootId: string;
}

function readJson<T>(root: HostRoot, hostPath: string): T | undefined {
  const seen = observe(root, hostPath);
  if (seen.kind === 'missing') return undefined;
  if (seen.kind !== 'file') throw new DaemonFileError(`${hostPath} is not a regular file`);
  try {
    return JSON.parse(seen.contents.toString('utf8')) as T;
  } catch (e) {
    throw new DaemonFileError(`${hostPath} does not hold JSON: ${(e as Error).message}`, { cause: e });
  }
}

export const readUpdateJournal = (root: HostRoot): UpdateJournal | undefined => readJson<UpdateJournal>(root, UPDATE_JOURNAL_PATH);
export const writeUpdateJournal = (root: HostRoot, entry: UpdateJournal): void => writeAtomic(root, UPDATE_JOURNAL_PATH, `${JSON.stringify(entry)}\n`, 0o600);
export const clearUpdateJournal = (root: HostRoot): void => rmSync(root.resolve(UPDATE_JOURNAL_PATH), { force: true });

/** Just the name of the on-disk config (the whole MachineConfig is stored). */
export function readOnDiskConfig<T extends { metadata?: { name?: string } }>(root: HostRoot): T | undefined {
  return readJson<T>(root, CURRENT_CONFIG_PATH);
}

/** `{currentConfig, desiredConfig, state}` a new node is installed with, if its bootstrap file is there. */
export const readBootstrapAnnotations = (root: HostRoot): Record<string, string> | undefined => readJson<Record<string, string>>(root, NODE_ANNOTATIONS_PATH);

/** Renames the bootstrap file aside once its annotations are on the Node. */
export function retireBootstrapAnnotations(root: HostRoot): void {
  if (observe(root, NODE_ANNOTATIONS_PATH).kind === 'missing') return;
  renameSync(root.resolve(NODE_ANNOTATIONS_PATH), root.resolve(NODE_ANNOTATIONS_BAK_PATH));
}

/** Whether `/run/machine-config-daemon-force` exists; it is removed as it is read (one-shot). */
export function takeForceFile(root: HostRoot): boolean {
  if (observe(root, FORCE_FILE_PATH).kind === 'missing') return false;
  rmSync(root.resolve(FORCE_FILE_PATH), { force: true });
  return true;
}
