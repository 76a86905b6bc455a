/**
 * The kernel arguments of a new deployment under `ostree admin deploy`'s options, as
 * ot-admin-builtin-deploy.c computes them with libostree's OstreeKernelArgs (ostree 2022.7):
 * an ordered list where `--karg` replaces a key's values in place, `--karg-append` adds, and
 * `--karg-delete` removes one value. Pure.
 */
import { splitKargs, withoutOstreeKarg } from './bls.js';
import { SysrootError } from './sysroot.js';

/** The key of `key=value` (all of an argument without `=`). */
export const keyOf = (arg: string): string => (arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg);

/** `ostree admin deploy`'s kernel-argument options. */
export interface DeployKargsEdit {
  /** `--karg-none`: start from no arguments instead of the merge deployment's. */
  none?: boolean;
  /** `--karg-proc-cmdline`: start from this kernel command line (BOOT_IMAGE= and initrd= dropped). */
  procCmdline?: string;
  /** `--karg`: each replaces every argument with its key (where the first stood), else is appended. */
  replace?: readonly string[];
  /** `--karg-append`: appended, even when the key is already there. */
  append?: readonly string[];
  /** `--karg-delete`: KEY (when it has a single value) or KEY=VALUE. */
  delete?: string;
}

const valueOf = (arg: string): string | null => (arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : null);

/** OstreeKernelArgs' delete, with its refusals. */
function deleteKarg(kargs: string[], arg: string): string[] {
  const key = keyOf(arg);
  const value = valueOf(arg);
  const same = kargs.filter((a) => keyOf(a) === key);
  if (same.length === 0) throw new SysrootError(`No key '${key}' found`);
  if (same.length === 1) {
    if (value !== null && valueOf(same[0]!) !== value) throw new SysrootError(`No karg '${key}=${value}' found`);
    return kargs.filter((a) => keyOf(a) !== key);
  }
  const at = kargs.findIndex((a) => keyOf(a) === key && valueOf(a) === value);
  if (at < 0) throw new SysrootError(value === null ? `Multiple values for key '${arg}' found` : `No karg '${arg}' found`);
  return kargs.filter((_, i) => i !== at);
}

/** OstreeKernelArgs' replace: one `key=value` where the key's first argument stood, else appended. */
function replaceKarg(kargs: string[], arg: string): string[] {
  const key = keyOf(arg);
  const at = kargs.findIndex((a) => keyOf(a) === key);
  if (at < 0) return [...kargs, arg];
  return kargs.flatMap((a, i) => (i === at ? [arg] : keyOf(a) === key ? [] : [a]));
}

/**
 * The new deployment's kernel arguments under `ostree admin deploy`'s options, given the merge
 * deployment's (null: none, or `--no-merge`). Undefined when no option asks for a change: the
 * deployment then inherits the merge deployment's as they are. Pure.
 */
export function deployKargs(merge: readonly string[] | null, edit: DeployKargsEdit): string[] | undefined {
  const editing = (edit.replace?.length ?? 0) > 0 || (edit.append?.length ?? 0) > 0 || edit.delete !== undefined;
  let kargs: string[] | undefined;
  if (edit.none) kargs = [];
  else if (edit.procCmdline !== undefined) kargs = splitKargs(edit.procCmdline).filter((a) => !a.startsWith('BOOT_IMAGE=') && !a.startsWith('initrd='));
  else if (merge && editing) kargs = [...merge];
  for (const arg of edit.replace ?? []) kargs = replaceKarg(kargs ?? [], arg);
  if (edit.append?.length) kargs = [...(kargs ?? []), ...edit.append];
  if (edit.delete !== undefined) kargs = deleteKarg(kargs ?? [], edit.delete);
  // A booted command line names its own deployment; the new entry gets its own ostree=.
  return kargs && withoutOstreeKarg(kargs);
}
