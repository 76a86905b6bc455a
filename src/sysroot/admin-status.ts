/**
 * The text of `ostree admin status` (libostree 2022.7), rendered from a loaded sysroot and its
 * system repo (for each commit's `version` and `ostree.source-title`). Reads commits only.
 * GPG: a refspec of a remote configured with gpg-verify makes ostree verify the commit's
 * signatures; without any it fails, and so do we, with its message. Printing the signatures
 * themselves (and `--verify`) is not done: we verify no GPG signatures.
 */
import { decodeDetachedMetadata, type Commit } from '../ostree/objects.js';
import { splitRefspec, type Repo } from '../ostree/repo.js';
import { isPinned, pendingDeployment, rollbackDeployment, SysrootError } from './sysroot.js';
import { type Deployment, sameDeployment, type SysrootState } from './types.js';

/** The first value of `key` when it is of type `s`; ostree ignores the key when it has any other type. */
function stringMetadata(commit: Commit | null, key: string): string | undefined {
  const v = commit?.metadata.find(([k]) => k === key)?.[1];
  return v?.type === 's' ? (v.value as string) : undefined;
}

/** The deployment's commit; null when the repo lacks it (ostree then prints no Version line). */
async function loadCommitIfPresent(repo: Repo, checksum: string): Promise<Commit | null> {
  return (await repo.hasObject('commit', checksum)) ? repo.loadCommit(checksum) : null;
}

/** `Unlocked: STATE` comes from the origin's `unlocked` key; only `hotfix` survives a reboot there. */
const unlockedState = (d: Deployment): string | null => (d.origin?.get('origin', 'unlocked') === 'hotfix' ? 'hotfix' : null);

/** A failure after some deployments were printed: ostree has written those lines already. */
export class AdminStatusError extends SysrootError {
  override name = 'AdminStatusError';
  constructor(message: string, readonly partialOutput: string) {
    super(message);
  }
}

/** The remote whose config asks for GPG verification of this refspec (gpg-verify defaults to true); null for none. */
function gpgVerifyingRemote(repo: Repo, refspec: string): string | null {
  const [remote] = splitRefspec(refspec);
  const group = `remote "${remote}"`;
  if (remote === undefined || !repo.config.hasGroup(group)) return null;
  return repo.config.getBoolean(group, 'gpg-verify') === false ? null : remote;
}

async function checkSignatures(repo: Repo, checksum: string, remote: string, out: string): Promise<void> {
  const detached = await repo.readDetachedMetadata(checksum);
  const signed = detached !== null && decodeDetachedMetadata(detached).some(([k]) => k === 'ostree.gpgsigs');
  if (!signed) throw new AdminStatusError('GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)', out);
  throw new AdminStatusError(`Commit ${checksum} is GPG-signed for remote "${remote}"; showing signatures is not supported`, out);
}

/**
 * The full output of `ostree admin status` for `state`, including the final newline. Throws
 * AdminStatusError, carrying the lines printed before, where ostree fails midway (GPG).
 */
export async function formatAdminStatus(state: SysrootState, repo: Repo): Promise<string> {
  const all = state.staged ? [state.staged, ...state.deployments] : state.deployments;
  if (all.length === 0) return 'No deployments.\n';
  const pending = pendingDeployment(state);
  const rollback = rollbackDeployment(state);
  const is = (a: Deployment | null, b: Deployment): boolean => a !== null && sameDeployment(a, b);

  let out = '';
  for (const d of all) {
    // A staged deployment is also the pending one; "staged" is what ostree says about it.
    const suffix = d === state.staged ? ' (staged)' : is(pending, d) ? ' (pending)' : is(rollback, d) ? ' (rollback)' : '';
    out += `${is(state.booted, d) ? '*' : ' '} ${d.osname} ${d.checksum}.${d.serial}${suffix}\n`;
    const commit = await loadCommitIfPresent(repo, d.checksum);
    const version = stringMetadata(commit, 'version');
    if (version !== undefined) out += `    Version: ${version}\n`;
    const unlocked = unlockedState(d);
    if (unlocked) out += `    Unlocked: ${unlocked}\n`;
    if (isPinned(d)) out += '    Pinned: yes\n';
    if (!d.origin) {
      out += '    origin: none\n';
      continue;
    }
    const refspec = d.origin.get('origin', 'refspec');
    out += refspec === undefined ? '    origin: <unknown origin type>\n' : `    origin refspec: ${refspec}\n`;
    // ostree prints the source title only for deployments with an origin.
    const title = stringMetadata(commit, 'ostree.source-title');
    if (title !== undefined) out += `    \`- ${title}\n`;
    const remote = refspec === undefined ? null : gpgVerifyingRemote(repo, refspec);
    if (remote !== null) await checkSignatures(repo, d.checksum, remote, out);
  }
  return out;
}
