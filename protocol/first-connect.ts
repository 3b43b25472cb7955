/**
 * Waiting for an MQTT.js client's first CONNACK, the same way in the browser
 * and in Node: resolves at its first `connect`, rejects with its first `error`
 * (the broker's reason, or the socket's) or with ConnectionClosed at a `close`
 * before that. Only the listeners added here are removed (MQTT.js keeps its own).
 * On failure the client is ended, and late errors of its teardown are ignored.
 */
import type { MqttClient } from 'mqtt';

export class ConnectionClosed extends Error {
  constructor() {
    super('connection closed');
    this.name = 'ConnectionClosed';
  }
}

export function firstConnect(client: Pick<MqttClient, 'on' | 'off' | 'end'>): Promise<void> {
  return new Promise((resolve, reject) => {
    const detach = (): void => {
      client.off('connect', onConnect);
      client.off('error', onError);
      client.off('close', onClose);
    };
    const fail = (err: Error): void => {
      detach();
      client.on('error', () => undefined);
      client.end(true);
      reject(err);
    };
    const onConnect = (): void => {
      detach();
      resolve();
    };
    const onError = (err: Error): void => fail(err);
    const onClose = (): void => fail(new ConnectionClosed());
    client.on('connect', onConnect);
    client.on('error', onError);
    client.on('close', onClose);
  });
}
