/**
 * GVariant text format (as `g_variant_print` writes and `g_variant_parse` reads it), for
 * `ostree commit --add-metadata` and `ostree show --print-metadata-key`.
 * PLACEHOLDER: being written; only strings are handled for now.
 */
import { GVariantError, type Variant } from './gvariant.js';

export function parseGVariantText(text: string): Variant {
  const m = /^'(.*)'$|^"(.*)"$/.exec(text);
  if (!m) throw new GVariantError(`Cannot parse GVariant text ${JSON.stringify(text)}`);
  return { type: 's', value: m[1] ?? m[2]! };
}
