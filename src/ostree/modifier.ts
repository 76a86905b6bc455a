/**
 * What `ostree commit` may change in the tree it stores, path by path: ownership
 * (`--owner-uid`, `--owner-gid`), modes (`--statoverride`, `--mode-ro-executables`), and
 * entries left out (`--skip-list`). Paths are absolute within the commit (`/a/b`), as in
 * ostree's statoverride and skip-list files. Pure: the walk that stores files calls apply().
 */
import { S_IFMT, S_IFREG } from './objects.js';
import { RepoError } from './repo.js';

export interface CommitModifierSpec {
  ownerUid?: number;
  ownerGid?: number;
  /** Executable regular files lose their write bits. */
  roExecutables?: boolean;
  /** statoverride lines `[+]MODE PATH`: bits added to the path's mode. */
  modeAdds?: Map<string, number>;
  /** statoverride lines `=MODE PATH`: the path's permission bits replaced. */
  modeOverrides?: Map<string, number>;
  skip?: Set<string>;
}

export interface Stat3 {
  uid: number;
  gid: number;
  mode: number;
}

export class CommitModifier {
  /** statoverride adds and skip-list paths no entry matched yet (ostree fails on leftovers). */
  private readonly unmatchedAdds: Set<string>;
  private readonly unmatchedSkips: Set<string>;

  constructor(private readonly spec: CommitModifierSpec) {
    this.unmatchedAdds = new Set(spec.modeAdds?.keys());
    this.unmatchedSkips = new Set(spec.skip);
  }

  /** The entry at `path` as it is to be committed, or 'skip' to leave it out. */
  apply(path: string, st: Stat3): Stat3 | 'skip' {
    const s = this.spec;
    let mode = st.mode;
    const out = { uid: s.ownerUid ?? st.uid, gid: s.ownerGid ?? st.gid, mode };
    if (s.roExecutables && (mode & S_IFMT) === S_IFREG && (mode & 0o111)) out.mode = mode &= ~0o222;
    const add = s.modeAdds?.get(path);
    const override = s.modeOverrides?.get(path);
    if (add !== undefined) {
      out.mode = mode | add;
      this.unmatchedAdds.delete(path);
    } else if (override !== undefined) {
      out.mode = (st.mode & S_IFMT) | override;
    }
    if (s.skip?.has(path)) {
      this.unmatchedSkips.delete(path);
      return 'skip';
    }
    return out;
  }

  /** Throws, as ostree does, when a statoverride add or a skip-list path matched nothing. */
  checkAllMatched(): void {
    if (this.unmatchedAdds.size) throw new RepoError(`Unmatched statoverride paths: ${[...this.unmatchedAdds].join(', ')}`);
    if (this.unmatchedSkips.size) throw new RepoError(`Unmatched skip-list paths: ${[...this.unmatchedSkips].join(', ')}`);
  }
}

/**
 * Parses a statoverride file: one `[+|=]MODE PATH` per line, MODE in decimal (as ostree reads
 * it with strtod). Blank lines are ignored.
 */
export function parseStatOverride(text: string, source: string): Pick<CommitModifierSpec, 'modeAdds' | 'modeOverrides'> {
  const modeAdds = new Map<string, number>();
  const modeOverrides = new Map<string, number>();
  for (const line of lines(text)) {
    const space = line.indexOf(' ');
    if (space < 0) throw new RepoError(`Malformed statoverride file (no space found): ${source}: "${line}"`);
    const override = line.startsWith('=');
    const number = line.slice(override ? 1 : 0, space);
    const mode = Number(number);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new RepoError(`Invalid mode "${number}" in statoverride file ${source}: "${line}"`);
    (override ? modeOverrides : modeAdds).set(line.slice(space + 1), mode);
  }
  return { modeAdds, modeOverrides };
}

/** A skip-list file: one path per line. */
export function parseSkipList(text: string): Set<string> {
  return new Set(lines(text));
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}
