/**
 * What Ignition and the machine-config-server do for a new machine, done by the lab as its
 * installer: the node gets its pool's rendered config written onto its booted deployment (files,
 * units, the core user's SSH keys), and `/etc/machine-config-daemon/node-annotations.json`
 * naming that config, which the daemon copies onto its Node at first start. A node that has
 * never run its daemon then validates on its first run, as an installed RHCOS node does.
 */
import type { MachineConfig } from '../api/machineconfig.js';
import { CURRENT_CONFIG_ANNOTATION, DESIRED_CONFIG_ANNOTATION, STATE_ANNOTATION, STATE_DONE } from '../api/node.js';
import { hostConfigOf } from '../daemon/ignition.js';
import { NODE_ANNOTATIONS_PATH } from '../node/daemon-files.js';
import { writeAtomic, writeHostConfig } from '../node/host-files.js';
import { openHostRoot } from '../node/host-root.js';
import { simulatedBoot } from '../sysroot/boot.js';

/** Provisions the booted deployment of the node at `sysroot` (booted per `cmdlineFile`) with `rendered`. */
export async function provisionNode(sysroot: string, cmdlineFile: string, rendered: MachineConfig): Promise<void> {
  const root = await openHostRoot(sysroot, { readCmdline: simulatedBoot(sysroot, cmdlineFile) });
  writeHostConfig(root, [], hostConfigOf(rendered));
  const name = rendered.metadata.name!;
  writeAtomic(root, NODE_ANNOTATIONS_PATH, `${JSON.stringify({ [CURRENT_CONFIG_ANNOTATION]: name, [DESIRED_CONFIG_ANNOTATION]: name, [STATE_ANNOTATION]: STATE_DONE })}\n`);
}
