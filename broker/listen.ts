/** listen()/close() for net and http servers with a person-readable port error. */
import type { Server } from 'node:net';

export class PortInUseError extends Error {
  constructor(readonly what: string, readonly host: string, readonly port: number, readonly envName: string) {
    super(
      `${what} port ${port} on ${host} is already in use. Stop the other program or pick another port, ` +
        `e.g. ${envName}=${port + 1} npm start`,
    );
    this.name = 'PortInUseError';
  }
}

export function listen(server: Server, port: number, host: string, what: string, envName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') reject(new PortInUseError(what, host, port, envName));
      else if (err.code === 'EACCES') reject(new Error(`${what} port ${port} on ${host}: permission denied (ports below 1024 need privileges). Set ${envName}.`));
      else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    const http = server as Server & { closeAllConnections?: () => void };
    http.closeAllConnections?.();
  });
}
