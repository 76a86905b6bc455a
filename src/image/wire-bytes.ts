/**
 * Bytes a server sent over the network, headers and all, counted at its sockets: what the lab
 * and the benchmarks report as bytes served by the registry and the OS content cache.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Starts counting what SERVER sends from now on; the function returns the total so far. */
export function countBytesSent(server: Server): () => number {
  let closed = 0;
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      closed += socket.bytesWritten;
    });
  });
  return () => [...open].reduce((sum, s) => sum + s.bytesWritten, closed);
}
