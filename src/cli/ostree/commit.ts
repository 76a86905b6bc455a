import { readFileSync } from 'node:fs';
import { commitTrees, type TreeSource } from '../../ostree/commit.js';
import { regenerateSummary } from '../../ostree/summary.js';
import { CommitModifier, parseSkipList, parseStatOverride, type CommitModifierSpec } from '../../ostree/modifier.js';
import type { Variant } from '../../ostree/gvariant.js';
import { parseGVariantText } from '../../ostree/gvariant-text.js';
import { isChecksum } from '../../ostree/objects.js';
import { flag, str, strs, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { openRepo } from './repo-arg.js';

export const command: Command = {
  summary: 'Commit a new revision',
  usage: '--repo=PATH [OPTION…] --branch=REF [PATH]',
  options: {
    branch: { type: 'string', short: 'b', description: 'Branch', argument: 'BRANCH' },
    orphan: { type: 'boolean', description: 'Create a commit without writing a ref' },
    subject: { type: 'string', short: 's', description: 'One line subject', argument: 'SUBJECT' },
    body: { type: 'string', short: 'm', description: 'Full description', argument: 'BODY' },
    parent: { type: 'string', description: 'Parent commit checksum, or "none"', argument: 'COMMIT' },
    timestamp: { type: 'string', description: "Override the timestamp of the commit ('YYYY-MM-DD HH:MM:SS +ZZZZ' or @SECONDS)", argument: 'TIMESTAMP' },
    'add-metadata-string': { type: 'string', multiple: true, description: 'Add a key/value pair to metadata', argument: 'KEY=VALUE' },
    'add-metadata': { type: 'string', multiple: true, description: 'Add a key/value pair to metadata, where the VALUE is in GVariant text format', argument: 'KEY=VALUE' },
    'no-bindings': { type: 'boolean', description: 'Do not add the ostree.ref-binding metadata' },
    'canonical-permissions': { type: 'boolean', description: 'Canonicalize permissions: uid/gid 0, modes masked to 0755, no xattrs' },
    'no-xattrs': { type: 'boolean', description: 'Do not import extended attributes' },
    tree: { type: 'string', multiple: true, description: 'Overlay the given argument as a tree', argument: 'dir=PATH or ref=COMMIT' },
    base: { type: 'string', description: 'Start from the given commit as a base (no modifiers apply)', argument: 'REV' },
    'body-file': { type: 'string', short: 'F', description: 'Commit message from FILE path', argument: 'FILE' },
    'bind-ref': { type: 'string', multiple: true, description: 'Add a ref to ref binding commit metadata', argument: 'BRANCH' },
    'keep-metadata': { type: 'string', multiple: true, description: 'Keep metadata KEY and its associated VALUE from parent', argument: 'KEY' },
    'add-detached-metadata-string': { type: 'string', multiple: true, description: 'Add a key/value pair to detached metadata', argument: 'KEY=VALUE' },
    'owner-uid': { type: 'string', description: 'Set file ownership user id', argument: 'UID' },
    'owner-gid': { type: 'string', description: 'Set file ownership group id', argument: 'GID' },
    bootable: { type: 'boolean', description: 'Flag this commit as a bootable OSTree (e.g. contains a Linux kernel)' },
    'mode-ro-executables': { type: 'boolean', description: 'Ensure executable files are not writable' },
    'link-checkout-speedup': { type: 'boolean', description: 'Optimize for commits of trees composed of hardlinks into the repository' },
    'devino-canonical': { type: 'boolean', short: 'I', description: 'Assume hardlinked objects are unmodified.  Implies --link-checkout-speedup' },
    'skip-if-unchanged': { type: 'boolean', description: 'If the contents are unchanged from previous commit, do nothing' },
    statoverride: { type: 'string', description: 'File containing list of modifications to make to permissions', argument: 'PATH' },
    'skip-list': { type: 'string', description: 'File containing list of files to skip', argument: 'PATH' },
    consume: { type: 'boolean', description: 'Consume (delete) content after commit (for local directories)' },
    'table-output': { type: 'boolean', description: 'Output more information in a KEY: VALUE format' },
    fsync: { type: 'string', description: 'Specify how to invoke fsync()', argument: 'POLICY' },
  },
  async run(args, ctx) {
    const branch = str(args, 'branch');
    const orphan = flag(args, 'orphan');
    if (!branch && !orphan) throw new UsageError('A branch must be specified with --branch, or use --orphan');
    const trees = strs(args, 'tree');
    const sources = trees.length ? trees.map(parseTreeSource) : [{ dir: args.positionals[0] ?? '.' }];
    const modifier = modifierArgs(args);
    if (flag(args, 'canonical-permissions') && (modifier?.ownerUid || modifier?.ownerGid)) {
      throw new UsageError(`Cannot specify both --canonical-permissions and non-zero --owner-${modifier.ownerUid ? 'uid' : 'gid'}`);
    }
    const bodyFile = str(args, 'body-file');
    const detached = strs(args, 'add-detached-metadata-string');
    const base = str(args, 'base');
    const repo = await openRepo(args, ctx);
    const result = await commitTrees(repo, sources, {
      ...(orphan ? {} : { branch }),
      subject: str(args, 'subject') ?? '',
      body: bodyFile !== undefined ? readFileSync(bodyFile, 'utf8') : (str(args, 'body') ?? ''),
      metadata: metadataArgs(strs(args, 'add-metadata-string'), strs(args, 'add-metadata')),
      parent: parseParent(str(args, 'parent')),
      ...(str(args, 'timestamp') !== undefined ? { timestamp: parseTimestamp(str(args, 'timestamp')!) } : {}),
      bindings: !flag(args, 'no-bindings'),
      bindRefs: strs(args, 'bind-ref'),
      keepMetadata: strs(args, 'keep-metadata'),
      ...(detached.length ? { detachedMetadata: metadataArgs(detached, []) } : {}),
      canonicalPermissions: flag(args, 'canonical-permissions'),
      noXattrs: flag(args, 'no-xattrs'),
      ...(base !== undefined ? { base } : {}),
      ...(modifier ? { modifier: new CommitModifier(modifier) } : {}),
      linkCheckoutSpeedup: flag(args, 'link-checkout-speedup'),
      devinoCanonical: flag(args, 'devino-canonical'),
      consume: flag(args, 'consume'),
      skipIfUnchanged: flag(args, 'skip-if-unchanged'),
      bootable: flag(args, 'bootable'),
      ...(str(args, 'fsync') !== undefined ? { fsync: parseBoolean(str(args, 'fsync')!, 'fsync') } : {}),
    });
    // As ostree's commit: the repository asks for a fresh summary with each commit.
    if (repo.config.getBoolean('core', 'commit-update-summary') === true) await regenerateSummary(repo);
    if (!flag(args, 'table-output')) {
      ctx.output.out(`${result.checksum}\n`);
      return;
    }
    ctx.output.out([
      `Commit: ${result.checksum}`,
      `Metadata Total: ${result.metadataObjects + (result.skipped ? 0 : 1)}`,
      `Metadata Written: ${result.newMetadataObjects + (result.skipped ? 0 : 1)}`,
      `Content Total: ${result.files}`,
      `Content Written: ${result.newFiles}`,
      `Content Cache Hits: ${result.devinoHits}`,
      `Content Bytes Written: ${result.newBytes}`,
    ].join('\n') + '\n');
  },
};

/** `dir=PATH` or `ref=REV`, as `--tree` takes them. */
function parseTreeSource(spec: string): TreeSource {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new UsageError(`Missing type in tree specification '${spec}'`);
  const [type, value] = [spec.slice(0, eq), spec.slice(eq + 1)];
  if (type === 'dir') return { dir: value };
  if (type === 'ref') return { rev: value };
  if (type === 'tar') throw new UsageError(`Tree type 'tar' is not supported (${spec}): extract the archive and commit it with --tree=dir=`);
  throw new UsageError(`Invalid tree type specification '${type}'`);
}

/** The modifier the flags ask for; undefined when none does. */
function modifierArgs(args: Parameters<Command['run']>[0]): CommitModifierSpec | undefined {
  const spec: CommitModifierSpec = {};
  const uid = str(args, 'owner-uid');
  const gid = str(args, 'owner-gid');
  if (uid !== undefined) spec.ownerUid = parseId(uid, 'owner-uid');
  if (gid !== undefined) spec.ownerGid = parseId(gid, 'owner-gid');
  if (flag(args, 'mode-ro-executables')) spec.roExecutables = true;
  const statoverride = str(args, 'statoverride');
  if (statoverride !== undefined) Object.assign(spec, parseStatOverride(readFileSync(statoverride, 'utf8'), statoverride));
  const skipList = str(args, 'skip-list');
  if (skipList !== undefined) spec.skip = parseSkipList(readFileSync(skipList, 'utf8'));
  return Object.keys(spec).length ? spec : undefined;
}

/** A uid or gid as GOption's int options take it; -1 (the default) means unchanged. */
function parseId(text: string, name: string): number | undefined {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < -1 || n > 0xffffffff) throw new UsageError(`Cannot parse integer value “${text}” for --${name}`);
  return n === -1 ? undefined : n;
}

export function parseBoolean(text: string, name: string): boolean {
  if (/^(1|true|yes)$/i.test(text)) return true;
  if (/^(0|false|no)$/i.test(text)) return false;
  throw new UsageError(`Invalid boolean value '${text}' for --${name}`);
}

/** Metadata in argument order: the `--add-metadata-string` keys, then the `--add-metadata` ones. */
function metadataArgs(strings: string[], variants: string[]): [string, Variant][] {
  const split = (kv: string): [string, string] => {
    const eq = kv.indexOf('=');
    if (eq < 0) throw new UsageError(`Missing '=' in KEY=VALUE metadata '${kv}'`);
    if (eq === 0) throw new UsageError('Empty metadata key');
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  };
  return [
    ...strings.map((kv): [string, Variant] => {
      const [k, v] = split(kv);
      return [k, { type: 's', value: v }];
    }),
    ...variants.map((kv): [string, Variant] => {
      const [k, v] = split(kv);
      try {
        return [k, parseGVariantText(v)];
      } catch (e) {
        throw new UsageError(`Parsing ${kv}: ${(e as Error).message}`, { cause: e });
      }
    }),
  ];
}

function parseParent(parent: string | undefined): string | null | undefined {
  if (parent === undefined) return undefined;
  if (parent === 'none') return null;
  if (!isChecksum(parent)) throw new UsageError(`Invalid --parent "${parent}": expected a 64-character checksum or "none"`);
  return parent;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** `@SECONDS`, `YYYY-MM-DD HH:MM:SS [+ZZZZ]` or `MONTH DAY YEAR`, as `ostree commit --timestamp` accepts. */
export function parseTimestamp(text: string): number {
  if (/^@\d+$/.test(text)) return Number(text.slice(1));
  const day = /^([A-Za-z]+)\s+(\d{1,2}),?\s+(\d{4})$/.exec(text.trim());
  const month = day ? MONTHS.findIndex((name) => day[1]!.toLowerCase().startsWith(name)) : -1;
  // `October 25 1985`, as GNU date reads it: midnight, local time.
  if (day && month >= 0) return new Date(+day[3]!, month, +day[2]!).getTime() / 1000;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\s*([+-])(\d{2}):?(\d{2})|\s*Z)?$/.exec(text.trim());
  if (!m) throw new UsageError(`Could not parse '${text}' as a timestamp: expected @SECONDS, 'YYYY-MM-DD HH:MM:SS +ZZZZ' or 'MONTH DAY YEAR'`);
  const [, y, mo, d, h, mi, s, sign, zh, zm] = m;
  const utc = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!) / 1000;
  const offset = sign ? (sign === '+' ? 1 : -1) * (+zh! * 3600 + +zm! * 60) : 0;
  return utc - offset;
}
