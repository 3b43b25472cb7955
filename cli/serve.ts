/** `mqttcast serve`: the whole service in one process, with ordered shutdown on SIGINT/SIGTERM. */
import type { Logger } from 'pino';
import { PortInUseError } from '../broker/listen.js';
import { ConfigError, loadConfig, type Config } from '../media-server/daemon/config.js';
import { createLogger } from '../media-server/daemon/logger.js';
import { startBroker, startGateway, startService, type Daemon, type Service } from '../media-server/service.js';
import { CliError, EXIT } from './exit-codes.js';

const FORCE_EXIT_MS = 8000;

export function configFromFlags(flags: Record<string, string | string[] | boolean | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const num = (key: string, flag: string): void => {
    const v = flags[flag];
    if (typeof v === 'string') out[key] = Number(v);
  };
  if (typeof flags.config === 'string') out.config = flags.config;
  if (typeof flags.host === 'string') out.host = flags.host;
  num('httpPort', 'http-port');
  num('mqttPort', 'mqtt-port');
  num('fragmentMs', 'fragment-ms');
  if (typeof flags.broker === 'string') out.brokerUrl = flags.broker;
  if (typeof flags.username === 'string') out.brokerUsername = flags.username;
  if (typeof flags.password === 'string') out.brokerPassword = flags.password;
  if (typeof flags.prefix === 'string') out.prefix = flags.prefix;
  if (Array.isArray(flags.allow)) out.allow = flags.allow.flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean);
  if (typeof flags['log-level'] === 'string') out.logLevel = flags['log-level'];
  if (typeof flags['share-group'] === 'string') out.shareGroup = flags['share-group'];
  if (flags.secure === true) out.secure = true;
  return out;
}

export function loadCliConfig(flags: Record<string, string | string[] | boolean | undefined>): Config {
  try {
    return loadConfig(configFromFlags(flags));
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.USAGE);
    throw err;
  }
}

export type Role = 'serve' | 'media-server' | 'broker' | 'gateway';

function start(role: Role, config: Config, log: Logger): Promise<Daemon | Service> {
  if (role === 'broker') return startBroker(config, log);
  if (role === 'gateway') return startGateway(config, log);
  return startService(config, log, role);
}

function banner(role: Role, daemon: Daemon, config: Config): string {
  const { urls } = daemon;
  const mqtt = new URL(urls.mqtt);
  const lines = ['', `mqttcast ${role === 'serve' ? '' : `${role} `}is running.`];
  if (role === 'serve' || role === 'gateway') lines.push(`  Web player:        ${urls.web}`);
  lines.push(`  MQTT broker:       ${urls.mqtt}`);
  if (role !== 'media-server') lines.push(`  MQTT (WebSocket):  ${urls.websocket}${role === 'gateway' || config.brokerUrl ? '  (gateway to the broker)' : ''}`);
  lines.push(`  Health / metrics:  ${urls.web}healthz  ${urls.web}metrics`);
  if (role === 'serve') {
    lines.push(`  Try it:            mosquitto_rr -V 311 -h ${mqtt.hostname} -p ${mqtt.port || 1883} -t ${config.prefix}/describe -e demo/reply -m '{"source":"demo","reply_topic":"demo/reply"}'`);
  }
  lines.push('Press Ctrl-C to stop.', '');
  return lines.join('\n');
}

export async function serve(flags: Record<string, string | string[] | boolean | undefined>, role: Role = 'serve'): Promise<boolean> {
  const config = loadCliConfig(flags);
  if (flags['print-config']) {
    process.stdout.write(`${JSON.stringify(redact(config), null, 2)}\n`);
    return false;
  }
  const log = createLogger(config.logLevel, config.logFormat);
  let daemon: Daemon | Service;
  try {
    daemon = await start(role, config, log);
  } catch (err) {
    if (err instanceof PortInUseError) throw new CliError(err.message, EXIT.USAGE);
    throw new CliError((err as Error).message, EXIT.USAGE);
  }
  process.stderr.write(banner(role, daemon, config));
  installShutdown(daemon.close, log);
  if ('mediaServer' in daemon) installReload(flags, daemon, log);
  return true;
}

/** SIGHUP: read the configuration again and apply the new allowlist; running sessions go on. */
function installReload(flags: Record<string, string | string[] | boolean | undefined>, service: Service, log: Logger): void {
  process.on('SIGHUP', () => {
    try {
      const next = loadCliConfig(flags);
      service.mediaServer.setAllowlist(next.allow);
      log.info({ allow: next.allow.length }, 'configuration reloaded: new allowlist in force for new requests');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'configuration reload failed; keeping the current allowlist');
    }
  });
}

function installShutdown(close: () => Promise<void>, log: Logger): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down: ending sessions, stopping ffmpeg, disconnecting');
    const force = setTimeout(() => {
      log.error('shutdown took too long; forcing exit');
      process.exit(1);
    }, FORCE_EXIT_MS);
    force.unref();
    close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function redact(config: Config): Record<string, unknown> {
  return { ...config, ...(config.brokerPassword ? { brokerPassword: '***' } : {}) };
}
