/**
 * Extended attributes through a native binding (Node has no xattr API). Never follows
 * symlinks. A filesystem without xattr support reads as "no xattrs", as libostree treats it.
 */
import { createRequire } from 'node:module';
import type { Xattr } from './objects.js';

interface XattrBinding {
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Buffer | null;
  setAttributeSync(path: string, name: string, value: Uint8Array): void;
}

const require = createRequire(import.meta.url);
let binding: XattrBinding | undefined;
function native(): XattrBinding {
  binding ??= require('@napi-rs/xattr') as XattrBinding;
  return binding;
}

const UNSUPPORTED = /not supported|ENOTSUP|EOPNOTSUPP|os error 95/i;

/** Reads all xattrs of `path` (without following a symlink). */
export function readXattrs(path: string): Xattr[] {
  let names: string[];
  try {
    names = native().listAttributesSync(path);
  } catch (e) {
    if (UNSUPPORTED.test(String((e as Error).message))) return [];
    throw e;
  }
  const out: Xattr[] = [];
  for (const name of names) {
    const value = native().getAttributeSync(path, name);
    if (value !== null) out.push([name, value]);
  }
  return out;
}

export function readXattr(path: string, name: string): Buffer | null {
  return native().getAttributeSync(path, name);
}

export function writeXattrs(path: string, xattrs: Xattr[]): void {
  for (const [name, value] of xattrs) native().setAttributeSync(path, name, value);
}
