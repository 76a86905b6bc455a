/**
 * Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl's generators
 * send for built-in kinds (`kubectl create configmap|secret generic|deployment|namespace`,
 * `kubectl auth can-i`'s reviews) and have no JSON fallback for. A body is the 4 bytes `k8s\0` then a `runtime.Unknown`
 * whose `raw` is the object's message. The message definitions below are written for this
 * server from the field numbers of k8s.io/api (the fields those kinds carry; kubectl's
 * generators fill a subset). Decoding is protobufjs; a body holding a field not defined here
 * is refused (415, send JSON) rather than stored without it. Responses stay JSON, which
 * clients asking for protobuf accept (their Accept lists JSON too).
 */
import protobuf from 'protobufjs';
import { ApiError, badRequest } from './errors.js';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from('k8s\0', 'latin1');

const PROTO = `
syntax = "proto2";
package mco;

message TypeMeta { optional string apiVersion = 1; optional string kind = 2; }
message Unknown { optional TypeMeta typeMeta = 1; optional bytes raw = 2; optional string contentEncoding = 3; optional string contentType = 4; }

message Time { optional int64 seconds = 1; optional int32 nanos = 2; }
message Quantity { optional string string = 1; }
message IntOrString { optional int64 type = 1; optional int32 intVal = 2; optional string strVal = 3; }
message FieldsV1 { optional bytes Raw = 1; }
message OwnerReference { optional string kind = 1; optional string name = 3; optional string uid = 4; optional string apiVersion = 5; optional bool controller = 6; optional bool blockOwnerDeletion = 7; }
message ManagedFieldsEntry { optional string manager = 1; optional string operation = 2; optional string apiVersion = 3; optional Time time = 4; optional string fieldsType = 6; optional FieldsV1 fieldsV1 = 7; optional string subresource = 8; }
message ObjectMeta {
  optional string name = 1; optional string generateName = 2; optional string namespace = 3; optional string selfLink = 4;
  optional string uid = 5; optional string resourceVersion = 6; optional int64 generation = 7; optional Time creationTimestamp = 8;
  optional Time deletionTimestamp = 9; optional int64 deletionGracePeriodSeconds = 10; map<string, string> labels = 11;
  map<string, string> annotations = 12; repeated OwnerReference ownerReferences = 13; repeated string finalizers = 14;
  repeated ManagedFieldsEntry managedFields = 17;
}
message LabelSelectorRequirement { optional string key = 1; optional string operator = 2; repeated string values = 3; }
message LabelSelector { map<string, string> matchLabels = 1; repeated LabelSelectorRequirement matchExpressions = 2; }

message ConfigMap { optional ObjectMeta metadata = 1; optional bool immutable = 4; map<string, string> data = 2; map<string, bytes> binaryData = 3; }
message Secret { optional ObjectMeta metadata = 1; optional bool immutable = 5; map<string, bytes> data = 2; map<string, string> stringData = 4; optional string type = 3; }
message NamespaceSpec { repeated string finalizers = 1; }
message NamespaceStatus { optional string phase = 1; }
message Namespace { optional ObjectMeta metadata = 1; optional NamespaceSpec spec = 2; optional NamespaceStatus status = 3; }

message ContainerPort { optional string name = 1; optional int32 hostPort = 2; optional int32 containerPort = 3; optional string protocol = 4; optional string hostIP = 5; }
message EnvVar { optional string name = 1; optional string value = 2; }
message ResourceRequirements { map<string, Quantity> limits = 1; map<string, Quantity> requests = 2; }
message VolumeMount { optional string name = 1; optional bool readOnly = 2; optional string mountPath = 3; optional string subPath = 4; }
message Container {
  optional string name = 1; optional string image = 2; repeated string command = 3; repeated string args = 4; optional string workingDir = 5;
  repeated ContainerPort ports = 6; repeated EnvVar env = 7; optional ResourceRequirements resources = 8; repeated VolumeMount volumeMounts = 9;
  optional string terminationMessagePath = 13; optional string imagePullPolicy = 14; optional string terminationMessagePolicy = 20;
  optional bool stdin = 16; optional bool stdinOnce = 17; optional bool tty = 18;
}
message PodSpec {
  repeated Container containers = 2; repeated Container initContainers = 20; optional string restartPolicy = 3;
  optional int64 terminationGracePeriodSeconds = 4; optional string dnsPolicy = 6; map<string, string> nodeSelector = 7;
  optional string serviceAccountName = 8; optional string serviceAccount = 9; optional string nodeName = 10; optional bool hostNetwork = 11;
  optional bool hostPID = 12; optional bool hostIPC = 13; optional string hostname = 16; optional string subdomain = 17;
  optional string schedulerName = 19; optional bool automountServiceAccountToken = 21; optional string priorityClassName = 24;
  optional int32 priority = 25; optional string runtimeClassName = 29; optional bool enableServiceLinks = 30; optional string preemptionPolicy = 31;
}
message PodTemplateSpec { optional ObjectMeta metadata = 1; optional PodSpec spec = 2; }
message RollingUpdateDeployment { optional IntOrString maxUnavailable = 1; optional IntOrString maxSurge = 2; }
message DeploymentStrategy { optional string type = 1; optional RollingUpdateDeployment rollingUpdate = 2; }
message DeploymentSpec {
  optional int32 replicas = 1; optional LabelSelector selector = 2; optional PodTemplateSpec template = 3; optional DeploymentStrategy strategy = 4;
  optional int32 minReadySeconds = 5; optional int32 revisionHistoryLimit = 6; optional bool paused = 7; optional int32 progressDeadlineSeconds = 9;
}
message DeploymentStatus { optional int64 observedGeneration = 1; optional int32 replicas = 2; optional int32 updatedReplicas = 3; optional int32 readyReplicas = 7; optional int32 availableReplicas = 4; optional int32 unavailableReplicas = 5; }
message Deployment { optional ObjectMeta metadata = 1; optional DeploymentSpec spec = 2; optional DeploymentStatus status = 3; }

message ResourceAttributes {
  optional string namespace = 1; optional string verb = 2; optional string group = 3; optional string version = 4;
  optional string resource = 5; optional string subresource = 6; optional string name = 7;
}
message NonResourceAttributes { optional string path = 1; optional string verb = 2; }
message SelfSubjectAccessReviewSpec { optional ResourceAttributes resourceAttributes = 1; optional NonResourceAttributes nonResourceAttributes = 2; }
message SubjectAccessReviewStatus { optional bool allowed = 1; optional bool denied = 4; optional string reason = 2; optional string evaluationError = 3; }
message SelfSubjectAccessReview { optional ObjectMeta metadata = 1; optional SelfSubjectAccessReviewSpec spec = 2; optional SubjectAccessReviewStatus status = 3; }
message SelfSubjectRulesReviewSpec { optional string namespace = 1; }
message SubjectRulesReviewStatus { optional bool incomplete = 3; optional string evaluationError = 4; }
message SelfSubjectRulesReview { optional ObjectMeta metadata = 1; optional SelfSubjectRulesReviewSpec spec = 2; optional SubjectRulesReviewStatus status = 3; }
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;
const UNKNOWN = root.lookupType('mco.Unknown');

/** The kinds whose protobuf bodies are decoded, by `apiVersion/kind`. */
const MESSAGES: Record<string, string> = {
  'v1/ConfigMap': 'mco.ConfigMap',
  'v1/Secret': 'mco.Secret',
  'v1/Namespace': 'mco.Namespace',
  'apps/v1/Deployment': 'mco.Deployment',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'mco.SelfSubjectAccessReview',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'mco.SelfSubjectRulesReview',
};

type Message = Record<string, unknown>;
/** Fields that are pointers in Go: sent only when set, so a false or 0 is meant. */
const POINTERS = new Set([
  'immutable', 'automountServiceAccountToken', 'enableServiceLinks', 'controller', 'blockOwnerDeletion', 'replicas', 'revisionHistoryLimit',
  'progressDeadlineSeconds', 'terminationGracePeriodSeconds', 'deletionGracePeriodSeconds', 'priority',
]);
const NUMBER_TYPES = new Set(['int32', 'int64']);
const own = (m: object, k: string): boolean => Object.prototype.hasOwnProperty.call(m, k);
const toNumber = (v: unknown): number => (typeof v === 'object' && v !== null ? (v as { toNumber(): number }).toNumber() : Number(v));

/** A decoded message as the object's JSON: only the fields present on the wire, in their JSON forms. */
function toJson(type: protobuf.Type, msg: Message): Record<string, unknown> | string | number | null {
  switch (type.name) {
    case 'Time': {
      if (!own(msg, 'seconds')) return null;
      return new Date(toNumber(msg['seconds']) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    case 'Quantity':
      return String(msg['string'] ?? '');
    case 'IntOrString':
      return toNumber(msg['type'] ?? 0) === 1 ? String(msg['strVal'] ?? '') : Number(msg['intVal'] ?? 0);
  }
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (!own(msg, field.name)) continue;
    const convert = (v: unknown): unknown => {
      if (field.resolvedType instanceof protobuf.Type) return toJson(field.resolvedType, v as Message);
      if (field.type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
      if (field.type === 'int64') return toNumber(v);
      return v;
    };
    const v = msg[field.name];
    // Go writes its plain (non-pointer) strings, numbers and bools even when empty, where its
    // JSON leaves them out (and this decoder makes empty lists and maps): empty means none.
    if (v === '' || (v === false && !POINTERS.has(field.name))) continue;
    if ((field.repeated && (v as unknown[]).length === 0) || (field.map && Object.keys(v as object).length === 0)) continue;
    if (NUMBER_TYPES.has(field.type) && toNumber(v) === 0 && !POINTERS.has(field.name)) continue;
    if (field.map) out[field.name] = Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, convert(x)]));
    else if (field.repeated) out[field.name] = (v as unknown[]).map(convert);
    else out[field.name] = convert(v);
  }
  if (type.name === 'FieldsV1') return JSON.parse(Buffer.from(String(out['Raw'] ?? ''), 'base64').toString() || '{}') as Record<string, unknown>;
  return out;
}

/** The wire fields of `bytes` (and of its nested messages) that `type` does not define, as `Kind.path#number`. */
function undecodedFields(type: protobuf.Type, bytes: Uint8Array, path: string): string[] {
  const out: string[] = [];
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const id = tag >>> 3;
    const wireType = tag & 7;
    const field = type.fieldsById[id];
    if (!field) {
      out.push(`${path}#${id}`);
      r.skipType(wireType);
    } else if (wireType === 2 && field.resolvedType instanceof protobuf.Type) {
      const sub = r.bytes();
      if (!field.map) out.push(...undecodedFields(field.resolvedType, sub, `${path}.${field.name}`));
      else {
        // A map entry is a message of key = 1, value = 2.
        const entry = protobuf.Reader.create(sub);
        while (entry.pos < entry.len) {
          const t = entry.uint32();
          if (t >>> 3 === 2 && (t & 7) === 2) out.push(...undecodedFields(field.resolvedType, entry.bytes(), `${path}.${field.name}[]`));
          else entry.skipType(t & 7);
        }
      }
    } else r.skipType(wireType);
  }
  return out;
}

function decode(type: protobuf.Type, bytes: Uint8Array, what: string): Message {
  try {
    return type.decode(bytes) as unknown as Message;
  } catch (e) {
    throw badRequest(`the body of the request could not be decoded as a protobuf ${what}: ${(e as Error).message}`);
  }
}

/**
 * The object a `k8s\0` + runtime.Unknown body holds, as JSON data; 400 for a body that is not
 * one, 415 for a kind (or field) this server does not decode from protobuf.
 */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw badRequest('the body of the request is not a Kubernetes protobuf object: it does not start with the "k8s\\0" prefix');
  }
  const unknown = decode(UNKNOWN, body.subarray(MAGIC.length), 'runtime.Unknown');
  const typeMeta = (unknown['typeMeta'] ?? {}) as { apiVersion?: string; kind?: string };
  if (unknown['contentEncoding']) throw badRequest(`the protobuf object's contentEncoding "${String(unknown['contentEncoding'])}" is not supported`);
  const gvk = `${typeMeta.apiVersion ?? ''}/${typeMeta.kind ?? ''}`;
  const name = MESSAGES[gvk];
  if (!name) throw new ApiError(415, 'UnsupportedMediaType', `protobuf bodies of ${gvk} are not supported by this server - send application/json`);
  const type = root.lookupType(name);
  const raw = (unknown['raw'] as Uint8Array | undefined) ?? new Uint8Array();
  const msg = decode(type, raw, typeMeta.kind!);
  // The decoder skips fields this server has no definition for: such a body is refused
  // rather than stored without them.
  const unknownFields = undecodedFields(type, raw, typeMeta.kind!);
  if (unknownFields.length) {
    throw new ApiError(415, 'UnsupportedMediaType', `the protobuf ${typeMeta.kind} holds fields this server does not decode (${unknownFields.join(', ')}) - send it as application/json`);
  }
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...(toJson(type, msg) as Record<string, unknown>) };
}
