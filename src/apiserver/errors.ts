/**
 * API errors as Kubernetes words them: each becomes a `Status` body whose `reason` and
 * `message` kubectl prints (`Error from server (NotFound): …`), so the texts follow the real
 * apiserver's patterns (reference kube-api.md §13).
 */
import type { ResourceDef } from './resources.js';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason: string; message: string; field: string }[];
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): object {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** `machineconfigs.machineconfiguration.openshift.io` or, for the core group, `configmaps`. */
export const qualifiedResource = (def: Pick<ResourceDef, 'plural' | 'group'>): string => (def.group ? `${def.plural}.${def.group}` : def.plural);

const detailsOf = (def: ResourceDef, name: string): StatusDetails => ({ name, ...(def.group ? { group: def.group } : {}), kind: def.plural });

export const notFound = (def: ResourceDef, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${qualifiedResource(def)} "${name}" not found`, detailsOf(def, name));

export const pathNotFound = (): ApiError => new ApiError(404, 'NotFound', 'the server could not find the requested resource');

export const alreadyExists = (def: ResourceDef, name: string): ApiError =>
  new ApiError(409, 'AlreadyExists', `${qualifiedResource(def)} "${name}" already exists`, detailsOf(def, name));

export const conflict = (def: ResourceDef, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(def)} "${name}": ${why}`, detailsOf(def, name));

export const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message);

export const forbidden = (def: Pick<ResourceDef, 'plural' | 'group'>, name: string, why: string): ApiError =>
  new ApiError(403, 'Forbidden', `${qualifiedResource(def)}${name ? ` "${name}"` : ''} is forbidden: ${why}`, {
    ...(name ? { name } : {}),
    ...(def.group ? { group: def.group } : {}),
    kind: def.plural,
  });

export const unauthorized = (): ApiError => new ApiError(401, 'Unauthorized', 'Unauthorized');

export const methodNotAllowed = (): ApiError => new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');

export const unsupportedMediaType = (accepted: string[]): ApiError =>
  new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`);

export const expired = (message: string): ApiError => new ApiError(410, 'Expired', message);

export interface FieldCause {
  type: string;
  field: string;
  message: string;
}

/** 422 Invalid: `<Kind> "<name>" is invalid: <field>: <detail>`, several joined as `[a, b]`. */
export function invalid(def: ResourceDef, name: string, causes: FieldCause[]): ApiError {
  const parts = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const text = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${def.kind} "${name}" is invalid: ${text}`, {
    name,
    ...(def.group ? { group: def.group } : {}),
    kind: def.kind,
    causes: causes.map((c) => ({ reason: c.type, message: c.message, field: c.field })),
  });
}
