/** The one error type of registry traffic: what was asked of which registry, and what went wrong. */

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    /** The registry host key (`quay.io`, `127.0.0.1:5000`). */
    readonly registry: string,
    readonly details: {
      /** HTTP status, when the registry answered. */
      status?: number;
      /** The distribution error code (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, `DIGEST_INVALID`…). */
      code?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }
  get status(): number | undefined {
    return this.details.status;
  }
  get code(): string | undefined {
    return this.details.code;
  }
}
