/**
 * Configuration: one zod schema holds every default. Sources are merged in the
 * order defaults < config file < MQTTCAST_* environment < flags, validated once,
 * then frozen and passed in. Nothing else reads process.env.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import YAML from 'yaml';
import { AuthConfigSchema } from '../../broker/auth.js';
import { isValidPrefix } from '../../protocol/index.js';

const port = z.number().int().min(0).max(65535);

export const NamedSourceSchema = z
  .object({
    url: z.string().min(1),
    description: z.string().default(''),
    /** Override live detection (normally from the probe: no duration = live). */
    live: z.boolean().optional(),
    /**
     * Keep this source running and publish it as live channel `<name>` (`P/live/<name>/...`),
     * so edges behind bridged brokers can serve it (origin mode).
     */
    publish: z.boolean().default(false),
  })
  .strict();
export type NamedSource = z.infer<typeof NamedSourceSchema>;

export const LimitsSchema = z
  .object({
    maxSessions: z.number().int().min(1).default(200),
    maxSessionsPerClient: z.number().int().min(1).default(8),
    maxSessionsPerSource: z.number().int().min(1).default(100),
    maxUpstreams: z.number().int().min(1).default(16),
    maxConcurrentProbes: z.number().int().min(1).default(4),
    /** describe/play/stop requests per second per authenticated client (secure mode), and the burst allowed. */
    requestsPerSecond: z.number().min(0.1).default(10),
    requestBurst: z.number().int().min(1).default(30),
    /** The same for everyone together in open mode, where clients are not identified. */
    openRequestsPerSecond: z.number().min(0.1).default(100),
    openRequestBurst: z.number().int().min(1).default(200),
    /** A session that has acked at least once ends after this long without an ack. */
    leaseMs: z.number().int().min(1000).default(15_000),
    /** Longest a session may run, acks or not. */
    maxSessionSeconds: z.number().int().min(1).default(6 * 3600),
    /** Keep an upstream this long after its last viewer left (or after a describe). */
    lingerMs: z.number().int().min(0).default(10_000),
    /**
     * Media time (ms), and bytes, a viewer may be behind its acks before it is skipped to the
     * next sync fragment — counted in time, so it means the same for one-frame fragments and
     * for 200 ms ones. The byte bound keeps what a broker holds for a stalled socket small (Aedes
     * drops a subscriber whose socket stays full for 10 s; 8 s of a 5 Mb/s stream already was 5 MB).
     */
    flowWindowMs: z.number().int().min(200).default(3000),
    flowWindowBytes: z.number().int().min(64 * 1024).default(2 * 1024 * 1024),
    /** Replaced in 0.2 by flowWindowMs (fragments were 200 ms; 15 of them = 3000 ms). */
    flowWindow: z.never({ error: 'limits.flowWindow (a count of fragments) was replaced by limits.flowWindowMs (milliseconds of media; 15 fragments were 3000 ms)' }).optional(),
    /** Wait this long for a source's init segment before giving up. */
    startTimeoutMs: z.number().int().min(1000).default(20_000),
    /** No init segment or fragment for this long is a stall: ffmpeg is stopped (a live source restarted). */
    stallTimeoutMs: z.number().int().min(1000).default(15_000),
    /** A live channel with no fragment for this long counts as offline. */
    channelStallMs: z.number().int().min(500).default(5_000),
    /** An offline live channel may come back within this long; then its sessions end with SOURCE_UNAVAILABLE. */
    channelGraceMs: z.number().int().min(0).default(15_000),
    /** Restarts of a live source's ffmpeg before its viewers get SOURCE_UNAVAILABLE. */
    maxRestarts: z.number().int().min(0).default(5),
    /** Sessions survive a broker outage this long (publishing resumes); after it they are ended. */
    brokerLossMs: z.number().int().min(0).default(30_000),
    /** How often the retained stats message is published. */
    statsIntervalMs: z.number().int().min(1000).default(5_000),
    /** Address space each ffmpeg/ffprobe may use (set with prlimit where installed). */
    ffmpegMemoryBytes: z.number().int().min(64 * 1024 * 1024).default(4 * 1024 * 1024 * 1024),
    /** Open files each ffmpeg/ffprobe may have. */
    ffmpegOpenFiles: z.number().int().min(16).default(256),
    /** Bytes of the latest GOP kept for late joiners. */
    gopCacheBytes: z.number().int().min(0).default(24 * 1024 * 1024),
  })
  .strict();

/**
 * Still pictures of live channels: a JPEG of the latest keyframe, retained on
 * `P/live/<name>/snapshot`, made from the media the server already holds.
 */
export const SnapshotsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Seconds between two pictures of a channel (the first is taken at its first keyframe). */
    intervalS: z.number().min(1).max(3600).default(10),
    /** Width in pixels; the height keeps the aspect. A smaller source keeps its size. */
    width: z.number().int().min(16).max(3840).default(640),
    /** ffmpeg's JPEG quality scale: 2 (best, largest) to 31. */
    quality: z.number().int().min(2).max(31).default(5),
    /**
     * Which channels this server takes pictures of. `auto`: every live channel on its broker,
     * except those whose publisher makes its own (`mqttcast publish --snapshots`) and those
     * another server already serves (seen by the pictures arriving: in a tree of bridged
     * brokers the origin side does it and edges stand back). `own`: only the sources this
     * server publishes itself (`publish: true`).
     */
    channels: z.enum(['auto', 'own']).default('auto'),
  })
  .strict();
export type SnapshotsConfig = z.infer<typeof SnapshotsSchema>;

/** Home Assistant MQTT discovery: one camera entity per live channel, showing its snapshot. */
export const HomeAssistantSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Home Assistant's discovery prefix (its MQTT integration's setting). */
    prefix: z.string().refine(isValidPrefix, 'must be topic levels of letters, digits, _ . -').default('homeassistant'),
    /** Address of this server's web page as Home Assistant's users reach it; links each device to its live view. */
    pageUrl: z.url({ protocol: /^https?$/ }).optional(),
  })
  .strict();
export type HomeAssistantConfig = z.infer<typeof HomeAssistantSchema>;

export const ConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    httpPort: port.default(8080),
    mqttPort: port.default(1883),
    /** An external broker; when set, no embedded broker is started. */
    brokerUrl: z.string().url().optional(),
    brokerUsername: z.string().optional(),
    brokerPassword: z.string().optional(),
    prefix: z.string().refine(isValidPrefix, 'must be topic levels of letters, digits, _ . -').default('video'),
    /**
     * Several media servers on one broker: take describe/play through the MQTT shared
     * subscription `$share/<shareGroup>/…` (Mosquitto; not Aedes) so each is handled once.
     */
    shareGroup: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
    /** Allowlist entries: exact URLs, or URLs ending in `/*` for a prefix or a whole host. */
    allow: z.array(z.string().min(1)).default([]),
    sources: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), NamedSourceSchema).default({}),
    demo: z
      .object({
        enabled: z.boolean().default(true),
        width: z.number().int().min(16).max(3840).default(1280),
        height: z.number().int().min(16).max(2160).default(720),
        fps: z.number().int().min(1).max(60).default(30),
      })
      .strict()
      .prefault({}),
    /**
     * Length of the fMP4 fragments ffmpeg writes, in milliseconds; 0 (default) is one
     * fragment per video frame: each frame leaves as soon as it is encoded.
     */
    fragmentMs: z.number().min(0).max(2000).default(0),
    ffmpegPath: z.string().optional(),
    ffprobePath: z.string().optional(),
    /** Largest MQTT packet the embedded broker accepts from a client. */
    maxPacketBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
    /** Directory of the built web client; empty disables it. */
    clientDir: z.string().optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    logFormat: z.enum(['auto', 'json', 'pretty']).default('auto'),
    limits: LimitsSchema.prefault({}),
    snapshots: SnapshotsSchema.prefault({}),
    homeAssistant: HomeAssistantSchema.prefault({}),
    /** Users and ACLs of the embedded broker; enabling it turns on secure mode. */
    auth: AuthConfigSchema.prefault({}),
    /**
     * Secure mode (DESIGN §2): requests only on `P/req/<clientId>/…`, reply topics only under
     * `P/session/<clientId>/`. On by default when `auth.enabled`; set it for an external broker
     * whose ACLs enforce the same (see mosquitto.acl.example).
     */
    secure: z.boolean().optional(),
  })
  .strict();

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/** Whether requests are taken in secure mode (per-client request topics and reply roots). */
export function isSecure(config: Config): boolean {
  return config.secure ?? config.auth.enabled;
}
export type ConfigInput = z.input<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Environment variables and the config keys they set. */
export const ENV_KEYS: Record<string, { key: string; parse: (v: string) => unknown }> = {
  MQTTCAST_HOST: { key: 'host', parse: (v) => v },
  MQTTCAST_HTTP_PORT: { key: 'httpPort', parse: Number },
  MQTTCAST_MQTT_PORT: { key: 'mqttPort', parse: Number },
  MQTTCAST_BROKER_URL: { key: 'brokerUrl', parse: (v) => v },
  MQTTCAST_BROKER_USERNAME: { key: 'brokerUsername', parse: (v) => v },
  MQTTCAST_BROKER_PASSWORD: { key: 'brokerPassword', parse: (v) => v },
  MQTTCAST_PREFIX: { key: 'prefix', parse: (v) => v },
  MQTTCAST_ALLOW: { key: 'allow', parse: (v) => v.split(',').map((s) => s.trim()).filter(Boolean) },
  MQTTCAST_FFMPEG: { key: 'ffmpegPath', parse: (v) => v },
  MQTTCAST_FFPROBE: { key: 'ffprobePath', parse: (v) => v },
  MQTTCAST_LOG_LEVEL: { key: 'logLevel', parse: (v) => v },
  MQTTCAST_LOG_FORMAT: { key: 'logFormat', parse: (v) => v },
  MQTTCAST_SHARE_GROUP: { key: 'shareGroup', parse: (v) => v },
  MQTTCAST_FRAGMENT_MS: { key: 'fragmentMs', parse: Number },
  MQTTCAST_SNAPSHOTS: { key: 'snapshots', parse: (v) => ({ enabled: v === '1' || v.toLowerCase() === 'true' }) },
  MQTTCAST_HOME_ASSISTANT: { key: 'homeAssistant', parse: (v) => ({ enabled: v === '1' || v.toLowerCase() === 'true' }) },
  MQTTCAST_SECURE: { key: 'secure', parse: (v) => v === '1' || v.toLowerCase() === 'true' },
};

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const parsed: unknown = /\.ya?ml$/i.test(path) ? YAML.parse(text) : JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('the top level must be an object');
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
  }
}

export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, { key, parse }] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') out[key] = parse(value);
  }
  return out;
}

/** Validates merged layers (later wins, one level of nesting merged) and freezes the result. */
export function buildConfig(...layers: Array<Record<string, unknown>>): Config {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      const prev = merged[key];
      merged[key] = isPlainObject(prev) && isPlainObject(value) ? { ...prev, ...value } : value;
    }
  }
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || '(top level)';
    const detail = issue.code === 'unrecognized_keys' ? `unknown key "${issue.keys.join('", "')}"` : issue.message;
    throw new ConfigError(`invalid configuration at "${key}": ${detail}`);
  }
  return deepFreeze(result.data);
}

/** Loads defaults < file (MQTTCAST_CONFIG or --config) < environment < flags. */
export function loadConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv = configFromEnv(env);
  const file = (flags.config as string | undefined) ?? env.MQTTCAST_CONFIG;
  const fromFile = file ? readConfigFile(file) : {};
  const { config: _config, ...rest } = flags;
  return buildConfig(fromFile, fromEnv, rest);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
