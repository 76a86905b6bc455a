/**
 * The layer rule of DESIGN.md, made executable: each folder under src/ may import only the
 * folders listed for it, and policy folders may not reach the disk or spawn processes.
 * Run by the test command; `--graph` prints the allowed graph and the imports actually used.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Which layers each layer may import (besides itself). Dependencies point down only. */
export const ALLOWED: Record<string, readonly string[]> = {
  ostree: [],
  sysroot: ['ostree'],
  image: ['ostree'],
  node: ['sysroot', 'image', 'ostree'],
  api: [],
  daemon: ['api', 'node', 'sysroot', 'image', 'ostree'],
  controller: ['api'],
  apiserver: ['api'],
  // Only cli/ and lab/ wire adapters together.
  lab: ['apiserver', 'controller', 'daemon', 'api', 'node', 'image', 'sysroot', 'ostree'],
  cli: ['lab', 'apiserver', 'controller', 'daemon', 'api', 'node', 'image', 'sysroot', 'ostree'],
};

/** Folders holding decisions only: effects must be passed in, never imported. */
export const POLICY = ['controller', 'api'] as const;
const EFFECT_MODULES = /^(node:)?(fs|fs\/promises|child_process)$/;

export interface Violation {
  file: string;
  specifier: string;
  reason: string;
}

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

export function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT_RE)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

/** Checks files given as paths relative to src/ (e.g. `ostree/repo.ts`) with their source. */
export function checkLayers(files: Map<string, string>): Violation[] {
  const violations: Violation[] = [];
  for (const [file, source] of files) {
    const layer = file.split('/')[0]!;
    const allowed = ALLOWED[layer];
    if (!allowed) {
      violations.push({ file, specifier: '', reason: `folder "${layer}" is not in the layer list of DESIGN.md` });
      continue;
    }
    const isTest = file.endsWith('.test.ts');
    for (const specifier of importsOf(source)) {
      if (specifier.startsWith('.')) {
        const target = join(dirname(file), specifier).split(sep).join('/');
        if (target.startsWith('..')) {
          violations.push({ file, specifier, reason: 'imports from outside src/' });
          continue;
        }
        const targetLayer = target.split('/')[0]!;
        if (targetLayer !== layer && !allowed.includes(targetLayer)) {
          violations.push({ file, specifier, reason: `${layer}/ may not import ${targetLayer}/ (allowed: ${allowed.join(', ') || 'none'})` });
        }
      } else if (!isTest && (POLICY as readonly string[]).includes(layer) && EFFECT_MODULES.test(specifier)) {
        violations.push({ file, specifier, reason: `${layer}/ is policy code: pass filesystem and process effects in` });
      }
    }
  }
  return violations;
}

function listSources(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return listSources(root, p);
    return e.name.endsWith('.ts') ? [relative(root, p).split(sep).join('/')] : [];
  });
}

function main(): void {
  const here = dirname(fileURLToPath(import.meta.url));
  // Compiled to dist/tools/; the sources live in ../../src from there.
  const srcRoot = resolve(here, '..', '..', 'src');
  const files = new Map(listSources(srcRoot).map((f) => [f, readFileSync(join(srcRoot, f), 'utf8')]));
  if (process.argv.includes('--graph')) {
    for (const [layer, deps] of Object.entries(ALLOWED)) console.log(`${layer} -> ${deps.join(', ') || '(nothing)'}`);
  }
  const violations = checkLayers(files);
  for (const v of violations) console.error(`layer rule: src/${v.file}: ${v.specifier ? `"${v.specifier}": ` : ''}${v.reason}`);
  if (violations.length) process.exit(1);
  console.log(`layer rule: ${files.size} files under src/ respect DESIGN.md's layers`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
