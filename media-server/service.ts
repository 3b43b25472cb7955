/**
 * Everything `npm start` runs in one process: the embedded broker (unless an
 * external one is configured), the HTTP server, and the media server. close()
 * shuts down in order: sessions and ffmpeg, then MQTT, then the listeners.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { createAuthHooks, createUser } from '../broker/auth.js';
import { EmbeddedBroker } from '../broker/embedded-broker.js';
import type { Config } from './config.js';
import { findFfmpeg, type FfmpegBinaries } from './ffmpeg-binaries.js';
import { HttpServer } from './http-server.js';
import { MediaServer } from './media-server.js';
import { MqttLink } from './mqtt-link.js';

export const DEFAULT_CLIENT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'client');

export interface Service {
  config: Config;
  broker?: EmbeddedBroker;
  http: HttpServer;
  link: MqttLink;
  mediaServer: MediaServer;
  binaries: FfmpegBinaries;
  urls: { web: string; mqtt: string; websocket: string };
  close(): Promise<void>;
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startService(config: Config, log: Logger): Promise<Service> {
  const binaries = findFfmpeg(config, log);
  const opened: Array<{ close(): Promise<void> }> = [];
  const closeOpened = async (): Promise<void> => {
    for (const o of opened.reverse()) await o.close().catch((err: unknown) => log.warn({ err }, 'close failed'));
  };
  try {
    let broker: EmbeddedBroker | undefined;
    let credentials = { username: config.brokerUsername, password: config.brokerPassword };
    if (!config.brokerUrl) {
      let hooks;
      if (config.auth.enabled) {
        // Without configured server credentials, the media server gets an internal user of its own.
        const users = [...config.auth.users];
        if (!credentials.username) {
          const internal = await createUser(`mqttcast-internal-${randomBytes(4).toString('hex')}`, 'server');
          users.push(internal.user);
          credentials = { username: internal.user.username, password: internal.password };
        }
        hooks = createAuthHooks({ prefix: config.prefix, users, log: log.child({ component: 'broker-auth' }) });
      }
      broker = await EmbeddedBroker.start({
        host: config.host,
        port: config.mqttPort,
        maxPacketBytes: config.maxPacketBytes,
        logger: log.child({ component: 'broker' }),
        hooks,
      });
      opened.push(broker);
    }
    // Bind every listener before connecting anything, so a busy port fails fast and alone.
    const late: { link?: MqttLink; mediaServer?: MediaServer } = {};
    const http = await HttpServer.start({
      host: config.host,
      port: config.httpPort,
      clientDir: config.clientDir ?? DEFAULT_CLIENT_DIR,
      log: log.child({ component: 'http' }),
      health: () => ({
        ok: late.link?.connected ?? false,
        broker: late.link?.connected ? 'connected' : 'disconnected',
        sessions: late.mediaServer?.sessionCount ?? 0,
        upstreams: late.mediaServer?.pool.size ?? 0,
      }),
      metrics: () => late.mediaServer?.metrics.render() ?? '',
      upgradeMqtt: broker ? (req, socket, head) => broker.handleUpgrade(req, socket, head) : undefined,
    });
    opened.push(http);
    const brokerUrl = config.brokerUrl ?? broker!.url;
    const link = (late.link = await MqttLink.connect({
      url: brokerUrl,
      username: credentials.username,
      password: credentials.password,
      subscriptions: MediaServer.subscriptions(config),
      log: log.child({ component: 'mqtt' }),
    }));
    opened.push(link);
    const mediaServer = (late.mediaServer = await MediaServer.start({ config, link, ffmpeg: binaries.ffmpeg, ffprobe: binaries.ffprobe, log }));
    opened.push(mediaServer);
    const host = hostForUrl(config.host);
    const urls = {
      web: `http://${host}:${http.port}/`,
      mqtt: brokerUrl,
      websocket: `ws://${host}:${http.port}/mqtt`,
    };
    let closing: Promise<void> | undefined;
    // Stop taking requests and end sessions (viewers are told), then MQTT, then the listeners.
    const ordered = [mediaServer, link, http, ...(broker ? [broker] : [])];
    const close = async (): Promise<void> => {
      for (const part of ordered) await part.close().catch((err: unknown) => log.warn({ err }, 'close failed'));
    };
    return { config, broker, http, link, mediaServer, binaries, urls, close: () => (closing ??= close()) };
  } catch (err) {
    await closeOpened();
    throw err;
  }
}
