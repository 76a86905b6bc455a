import { commitTree } from '../../ostree/commit.js';
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
    tree: { type: 'string', description: 'Overlay the given argument as a tree (only dir=PATH)', argument: 'dir=PATH' },
  },
  async run(args, ctx) {
    const branch = str(args, 'branch');
    const orphan = flag(args, 'orphan');
    if (!branch && !orphan) throw new UsageError('A branch must be specified with --branch, or use --orphan');
    const tree = str(args, 'tree');
    const dir = tree ? tree.replace(/^dir=/, '') : (args.positionals[0] ?? '.');
    const repo = await openRepo(args, ctx);
    const result = await commitTree(repo, dir, {
      ...(orphan ? {} : { branch }),
      subject: str(args, 'subject') ?? '',
      body: str(args, 'body') ?? '',
      metadata: metadataArgs(strs(args, 'add-metadata-string'), strs(args, 'add-metadata')),
      parent: parseParent(str(args, 'parent')),
      ...(str(args, 'timestamp') !== undefined ? { timestamp: parseTimestamp(str(args, 'timestamp')!) } : {}),
      bindings: !flag(args, 'no-bindings'),
      canonicalPermissions: flag(args, 'canonical-permissions'),
      noXattrs: flag(args, 'no-xattrs'),
    });
    ctx.output.out(`${result.checksum}\n`);
  },
};

/** Metadata in argument order: the `--add-metadata-string` keys, then the `--add-metadata` ones. */
function metadataArgs(strings: string[], variants: string[]): [string, Variant][] {
  const split = (kv: string): [string, string] => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`Missing '=' in KEY=VALUE metadata "${kv}"`);
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

/** `@SECONDS` or `YYYY-MM-DD HH:MM:SS [+ZZZZ]`, as `ostree commit --timestamp` accepts. */
export function parseTimestamp(text: string): number {
  if (/^@\d+$/.test(text)) return Number(text.slice(1));
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\s*([+-])(\d{2}):?(\d{2})|\s*Z)?$/.exec(text.trim());
  if (!m) throw new UsageError(`Could not parse '${text}' as a timestamp: expected @SECONDS or 'YYYY-MM-DD HH:MM:SS +ZZZZ'`);
  const [, y, mo, d, h, mi, s, sign, zh, zm] = m;
  const utc = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!) / 1000;
  const offset = sign ? (sign === '+' ? 1 : -1) * (+zh! * 3600 + +zm! * 60) : 0;
  return utc - offset;
}
