/**
 * Label and field selectors as the list and watch query parameters carry them
 * (`labelSelector=a=b,!c,d in (x,y)`, `fieldSelector=spec.nodeName=n,status.phase!=Failed`),
 * parsed once per request into a predicate over stored objects. Bad syntax is a 400.
 */
import { badRequest } from './errors.js';
import type { ResourceDef } from './resources.js';

export type Predicate = (obj: KubeObjectLike) => boolean;
export interface KubeObjectLike {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

type LabelTerm =
  | { op: 'exists' | '!'; key: string }
  | { op: '=' | '!='; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] };

/** Splits on commas that are not inside the parentheses of an `in (…)` set. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function labelKey(key: string, selector: string): string {
  if (!LABEL_KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`);
  return key;
}

export function parseLabelSelector(selector: string): Predicate {
  const terms: LabelTerm[] = splitTerms(selector).map((term) => {
    let m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(term);
    if (m) return { op: m[2] as 'in' | 'notin', key: labelKey(m[1]!, selector), values: m[3]!.split(',').map((v) => v.trim()) };
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (m) return { op: m[2] === '!=' ? '!=' : '=', key: labelKey(m[1]!, selector), value: m[3]!.trim() };
    if (term.startsWith('!')) return { op: '!', key: labelKey(term.slice(1).trim(), selector) };
    return { op: 'exists', key: labelKey(term, selector) };
  });
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return terms.every((t) => {
      const has = Object.hasOwn(labels, t.key);
      const v = labels[t.key];
      switch (t.op) {
        case 'exists':
          return has;
        case '!':
          return !has;
        case '=':
          return v === t.value;
        case '!=':
          return v !== t.value;
        case 'in':
          return has && t.values.includes(v!);
        case 'notin':
          return !has || !t.values.includes(v!);
      }
    });
  };
}

/** The string a field selector compares, as the real apiserver's field sets render it. */
function fieldValue(obj: unknown, field: string): string {
  // Events' `source` selects on the reporting component.
  const path = field === 'source' ? 'source.component' : field;
  let v: unknown = obj;
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  // The real field sets render an unset boolean as "false" (an uncordoned node's spec.unschedulable).
  if ((v === undefined || v === null) && path === 'spec.unschedulable') return 'false';
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

export function parseFieldSelector(selector: string, def: ResourceDef): Predicate {
  const supported = new Set(['metadata.name', 'metadata.namespace', ...def.fields]);
  const terms = splitTerms(selector).map((term) => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = m[1]!.trim();
    if (!supported.has(field)) throw badRequest(`field label not supported: ${field}`);
    return { field, negate: m[2] === '!=', value: m[3]! };
  });
  return (obj) => terms.every((t) => (fieldValue(obj, t.field) === t.value) !== t.negate);
}

/** Both selectors of a request (either may be absent), as one predicate. */
export function selectorPredicate(def: ResourceDef, labelSelector: string | null, fieldSelector: string | null): Predicate {
  const label = labelSelector ? parseLabelSelector(labelSelector) : undefined;
  const field = fieldSelector ? parseFieldSelector(fieldSelector, def) : undefined;
  return (obj) => (label ? label(obj) : true) && (field ? field(obj) : true);
}
