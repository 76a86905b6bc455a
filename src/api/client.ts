/**
 * The thin client over @kubernetes/client-node that the controllers and the daemon share:
 * API clients on one keep-alive connection, the merge-patch header, and the API server's own
 * message for a failed call.
 */
import * as https from 'node:https';
import * as k8s from '@kubernetes/client-node';

/**
 * API clients as `kc.makeApiClient` makes them, but sharing one keep-alive agent: client-node
 * 1.4 builds a new https.Agent for every call, so each call pays a TLS handshake (measured:
 * most of the controller's CPU when targeting 2,000 nodes). The credentials and TLS options
 * are still the KubeConfig's own; only the connection is reused.
 */
export function keepAliveClients(kc: k8s.KubeConfig): <T>(api: new (config: k8s.Configuration) => T) => T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('The kubeconfig has no current cluster');
  let agent: https.Agent | undefined;
  const auth = {
    getName: (): string => 'kubeconfig-keepalive',
    async applySecurityAuthentication(context: k8s.RequestContext): Promise<void> {
      await kc.applySecurityAuthentication(context);
      const own = context.getAgent();
      if (!(own instanceof https.Agent)) return;
      agent ??= new https.Agent({ ...own.options, keepAlive: true });
      context.setAgent(agent);
    },
  };
  const config = k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(cluster.server, {}), authMethods: { default: auth } });
  return (api) => new api(config);
}

export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** The `message` of the Status body of a failed call, if the server sent one. */
export function statusMessage(e: k8s.ApiException<unknown>): string | undefined {
  try {
    const status = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: unknown } | undefined;
    return typeof status?.message === 'string' && status.message ? status.message : undefined;
  } catch {
    return undefined; // not a Status body
  }
}
