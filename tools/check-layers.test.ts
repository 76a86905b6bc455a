import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLayers, importsOf } from './check-layers.js';

const check = (files: Record<string, string>) => checkLayers(new Map(Object.entries(files))).map((v) => `${v.file}: ${v.reason}`);

test('importsOf() finds static, re-export, side-effect and dynamic imports', () => {
  const src = `import { a } from './a.js';\nexport * from "../b/c.js";\nimport './side.js';\nconst m = await import('node:fs');\nimport type { T } from './t.js';`;
  assert.deepEqual(importsOf(src).sort(), ['../b/c.js', './a.js', './side.js', './t.js', 'node:fs'].sort());
});

test('checkLayers() accepts imports that point down the layer list', () => {
  assert.deepEqual(check({
    'sysroot/deploy.ts': `import { Repo } from '../ostree/repo.js';`,
    'cli/main.ts': `import { deploy } from '../sysroot/deploy.js';`,
    'ostree/repo.ts': `import { readFile } from 'node:fs/promises';\nimport { x } from './objects.js';`,
  }), []);
});

test('checkLayers() rejects ostree/ importing image/ and sideways imports between peers', () => {
  assert.deepEqual(check({
    'ostree/repo.ts': `import { pull } from '../image/registry.js';`,
    'controller/render.ts': `import { Server } from '../apiserver/server.js';`,
  }), [
    'ostree/repo.ts: ostree/ may not import image/ (allowed: none)',
    'controller/render.ts: controller/ may not import apiserver/ (allowed: api)',
  ]);
});

test('checkLayers() rejects policy folders reaching the disk or spawning processes, but not their tests', () => {
  assert.deepEqual(check({
    'controller/render.ts': `import { readFileSync } from 'node:fs';`,
    'api/types.ts': `import { spawn } from 'child_process';`,
    'controller/render.test.ts': `import { mkdtempSync } from 'node:fs';`,
  }), [
    'controller/render.ts: controller/ is policy code: pass filesystem and process effects in',
    'api/types.ts: api/ is policy code: pass filesystem and process effects in',
  ]);
});

test('checkLayers() rejects unknown folders and escapes from src/', () => {
  assert.deepEqual(check({
    'misc/x.ts': '',
    'ostree/y.ts': `import { z } from '../../tools/z.js';`,
  }), [
    'misc/x.ts: folder "misc" is not in the layer list of DESIGN.md',
    'ostree/y.ts: imports from outside src/',
  ]);
});
