/**
 * The CLI's MQTT connection: MQTT 5 first, MQTT 3.1.1 when the broker refuses 5
 * ("unacceptable protocol version": Aedes 1.x, old brokers). Errors are CliErrors
 * that say what went wrong in a sentence.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { refusesMqtt5 } from '../protocol/index.js';
import { CliError, EXIT } from './exit-codes.js';

const UNREACHABLE = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET'];

class ProtocolRefused extends Error {}

/** Connects once the broker has answered; `options.protocolVersion` is chosen here. */
export async function connectMqtt(url: string, options: Omit<IClientOptions, 'protocolVersion'>): Promise<MqttClient> {
  try {
    return await connectAs(url, options, 5);
  } catch (err) {
    if (!(err instanceof ProtocolRefused)) throw err;
    return connectAs(url, options, 4);
  }
}

async function connectAs(url: string, options: IClientOptions, version: 4 | 5): Promise<MqttClient> {
  const client = mqtt.connect(url, { ...options, protocolVersion: version });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (err: Error & { code?: unknown }) => {
        if (version === 5 && refusesMqtt5(err)) {
          reject(new ProtocolRefused(err.message));
          return;
        }
        const unreachable = UNREACHABLE.includes(String(err.code));
        reject(new CliError(`${unreachable ? 'cannot reach' : 'cannot use'} the MQTT broker at ${url}: ${err.message}`, EXIT.BROKER_UNREACHABLE));
      });
      client.once('close', () => reject(new CliError(`cannot reach the MQTT broker at ${url}`, EXIT.BROKER_UNREACHABLE)));
    });
  } catch (err) {
    client.end(true);
    throw err;
  }
  client.removeAllListeners('close');
  client.removeAllListeners('error');
  client.on('error', () => undefined); // later errors surface as timeouts or closed streams, each reported by its command
  return client;
}
