/**
 * A channel CDN of real Mosquittos (ingress ◀══ intermediate ◀══ edges) started from the
 * SHIPPED deploy/bridges/*.conf and tree.acl. Only these lines are rewritten: listener
 * ports, bridge addresses, password/ACL file paths, the bridges' names and passwords
 * (one per edge), and sys_interval (so $SYS counters are fresh every second).
 *
 *   const tree = await startBridgeTree({ edges: ['a', 'b'] });   // bridges up, traffic flowing
 *   const pub = await tree.connect(tree.ingress);                // as user "publisher"
 *   await pub.publishAsync('video/live/cam1/init', init, { qos: 1, retain: true });
 *   const viewer = await tree.connect(tree.edges.a!);            // edges: anonymous on 127.0.0.1
 *   // a media server at an edge:  mqttcast serve --broker <tree.edges.a.url> ...
 *   // a publisher at the ingress: mqttcast publish ... --broker <tree.ingress.url>
 *   //                               -u tree.users.publisher.username -P tree.users.publisher.password
 *   await tree.intermediate.restart();         // resolves when every bridge carries traffic again
 *   const sent = await readBytesSent(tree, tree.ingress);   // $SYS/broker/bytes/sent
 *   await tree.close();                        // in afterAll/afterEach: stops every broker
 *
 * "Connected" means more than a TCP connection: each bridge's state is "1" on both ends
 * ($SYS/broker/connection/<name>/state) AND a probe published at the ingress on
 * video/live/_probe/ping has reached every edge (Mosquitto announces a bridge before
 * it has subscribed at the parent, so the state alone can race a first publish).
 */
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { runChecked } from './child.js';
import { MosquittoBroker, type StopBrokerOptions } from './mosquitto.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export const BRIDGES_DIR = resolve(fileURLToPath(new URL('../../deploy/bridges', import.meta.url)));
export const PROBE_TOPIC = 'video/live/_probe/ping';

export type TreeRole = 'ingress' | 'intermediate' | 'edge';
export type TreeUser = 'publisher' | 'monitor';
export interface Credentials {
  username: string;
  password: string;
}

export interface BridgeTreeOptions {
  /** Edge names; edge "a" is the shipped edge.conf renamed to edge-a (default ['a', 'b']). */
  edges?: string[];
  /** sys_interval of every broker in seconds (default 1; shipped: 10). */
  sysIntervalS?: number;
  /** How long start/restart wait for the bridges (default 20 000 ms). */
  connectTimeoutMs?: number;
  /**
   * Last rewrite of each generated config, for experiments with a variant of the shipped
   * files (deploy/bridges/measure.ts compares settings this way). Tests leave it out.
   */
  rewrite?: (file: ShippedConfig, text: string) => string;
}

export type ShippedConfig = 'ingress.conf' | 'intermediate.conf' | 'edge.conf';

export interface AddEdgeOptions {
  /** Password the edge's bridge presents (default: the right one). */
  remotePassword?: string;
  /** Wait until the new edge carries traffic (default true; false for an edge that must fail). */
  waitConnected?: boolean;
}

/** One broker of the tree. Ports stay the same across stop()/start()/restart(). */
export class TreeBroker {
  constructor(
    readonly tree: BridgeTree,
    readonly role: TreeRole,
    /** "ingress", "intermediate-1", "edge-a": also its bridge's client id and user at the parent. */
    readonly name: string,
    readonly broker: MosquittoBroker,
    /** The broker this one's bridge connects to (undefined for the ingress). */
    readonly parent: TreeBroker | undefined,
  ) {}

  get port(): number {
    return this.broker.port;
  }

  get url(): string {
    return this.broker.url;
  }

  get pid(): number | undefined {
    return this.broker.pid;
  }

  get configPath(): string {
    return this.broker.configPath;
  }

  /** Mosquitto's log (stderr) across all runs. */
  stderr(): string {
    return this.broker.stderr();
  }

  /** Credentials to use on this broker (edges are anonymous on 127.0.0.1). */
  auth(user: TreeUser = 'publisher'): IClientOptions {
    return this.role === 'edge' ? {} : { ...this.tree.users[user] };
  }

  async stop(opts: StopBrokerOptions = {}): Promise<void> {
    await this.broker.stop(opts);
  }

  /** Starts the broker again and waits until every bridge of the tree carries traffic. */
  async start(): Promise<void> {
    await this.broker.start();
    await this.tree.waitConnected();
  }

  /** stop() (SIGTERM, or { signal: 'SIGKILL' } for a crash) then start(). */
  async restart(opts: StopBrokerOptions = {}): Promise<void> {
    await this.stop(opts);
    await this.start();
  }
}

/** Replaces the one line matching `pattern`; fails loudly if the shipped file no longer has exactly one. */
export function substituteLine(text: string, pattern: RegExp, line: string, file: string): string {
  const hits = text.match(new RegExp(pattern.source, 'gm')) ?? [];
  if (hits.length !== 1) throw new Error(`${file}: expected one line matching ${pattern}, found ${hits.length}`);
  return text.replace(new RegExp(pattern.source, 'm'), line);
}

interface Rewrite {
  file: ShippedConfig;
  port: number;
  parentPort?: number;
  name?: string;
  remotePassword?: string;
}

export class BridgeTree {
  readonly edges: Record<string, TreeBroker> = {};
  readonly users: Record<TreeUser, Credentials> = {
    publisher: { username: 'publisher', password: secret() },
    monitor: { username: 'monitor', password: secret() },
  };
  /** Passwords of the bridge users (intermediate-1, edge-a, ...). */
  readonly bridgePasswords: Record<string, string> = {};
  private ingressNode: TreeBroker | undefined;
  private intermediateNode: TreeBroker | undefined;
  /** Edges added with waitConnected: false (expected not to connect): waitConnected() skips them. */
  private readonly expectedDown = new Set<TreeBroker>();
  private readonly clients = new Set<MqttClient>();
  private closed = false;

  constructor(
    /** Temp directory: configs, password file, ACL copy. */
    readonly dir: string,
    readonly opts: Required<Omit<BridgeTreeOptions, 'rewrite'>> & Pick<BridgeTreeOptions, 'rewrite'>,
  ) {}

  get passwordFile(): string {
    return join(this.dir, 'tree.passwd');
  }

  get ingress(): TreeBroker {
    if (!this.ingressNode) throw new Error('bridge tree: no ingress yet');
    return this.ingressNode;
  }

  get intermediate(): TreeBroker {
    if (!this.intermediateNode) throw new Error('bridge tree: no intermediate yet');
    return this.intermediateNode;
  }

  /** Every broker, parents first. */
  all(): TreeBroker[] {
    return [this.ingressNode, this.intermediateNode, ...Object.values(this.edges)].filter((b): b is TreeBroker => b !== undefined);
  }

  /** An MQTT 5 client of `broker` (as `user` on the ingress/intermediate); closed by tree.close(). */
  async connect(broker: TreeBroker, user: TreeUser = 'publisher', opts: IClientOptions = {}): Promise<MqttClient> {
    const client = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...broker.auth(user),
      ...opts,
    });
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    return client;
  }

  /** @internal used by startBridgeTree */
  async init(edges: string[]): Promise<void> {
    await copyFile(join(BRIDGES_DIR, 'tree.acl'), join(this.dir, 'tree.acl'));
    await this.addUser(this.users.publisher.username, this.users.publisher.password, true);
    await this.addUser(this.users.monitor.username, this.users.monitor.password);
    this.bridgePasswords['intermediate-1'] = secret();
    await this.addUser('intermediate-1', this.bridgePasswords['intermediate-1']);
    for (const e of edges) {
      this.bridgePasswords[`edge-${e}`] = secret();
      await this.addUser(`edge-${e}`, this.bridgePasswords[`edge-${e}`] as string);
    }
    // Started as root, mosquitto drops to the "mosquitto" user before it reads these files.
    await chmod(this.dir, 0o755);
    this.ingressNode = await this.spawnNode('ingress', 'ingress', undefined, { file: 'ingress.conf', port: 0 });
    this.intermediateNode = await this.spawnNode('intermediate', 'intermediate-1', this.ingressNode, {
      file: 'intermediate.conf',
      port: 0,
      parentPort: this.ingressNode.port,
      remotePassword: this.bridgePasswords['intermediate-1'] as string,
    });
    for (const e of edges) await this.spawnEdge(e, this.bridgePasswords[`edge-${e}`] as string);
    await this.waitConnected();
  }

  /**
   * Adds an edge after start: creates its bridge user at the intermediate (password file
   * + SIGHUP, waiting for the reload), then starts it with `remotePassword` if given.
   */
  async addEdge(edge: string, opts: AddEdgeOptions = {}): Promise<TreeBroker> {
    if (this.edges[edge]) throw new Error(`bridge tree: edge "${edge}" exists`);
    const name = `edge-${edge}`;
    this.bridgePasswords[name] = secret();
    await this.addUser(name, this.bridgePasswords[name] as string);
    await this.reload(this.intermediate);
    const node = await this.spawnEdge(edge, opts.remotePassword ?? (this.bridgePasswords[name] as string));
    if (opts.waitConnected ?? true) await this.waitConnected();
    else this.expectedDown.add(node);
    return node;
  }

  /** SIGHUP: Mosquitto re-reads the password file and ACL; resolves once it has. */
  async reload(broker: TreeBroker): Promise<void> {
    const count = (): number => broker.stderr().split('Reloading config').length;
    const before = count();
    const pid = broker.pid;
    if (pid === undefined) throw new Error(`bridge tree: ${broker.name} is not running`);
    process.kill(pid, 'SIGHUP');
    await waitFor(() => count() > before, { timeoutMs: 10_000, intervalMs: 20, message: `${broker.name} reloading` });
  }

  /**
   * Resolves when every bridge of the running brokers is "1" on both ends and a probe
   * from the ingress reached every running edge (except those added to fail).
   */
  async waitConnected(): Promise<void> {
    const running = this.all().filter((b) => b.broker.running);
    const edges = running.filter((b) => b.role === 'edge' && !this.expectedDown.has(b));
    const links = running.filter((b) => b.parent && (b.role !== 'edge' || edges.includes(b)));
    const watchers = new Map<TreeBroker, Map<string, string>>();
    const clients: MqttClient[] = [];
    try {
      for (const b of running) {
        const c = await this.connect(b, 'monitor');
        clients.push(c);
        const states = new Map<string, string>();
        watchers.set(b, states);
        c.on('message', (topic, payload) => {
          const m = /^\$SYS\/broker\/connection\/([^/]+)\/state$/.exec(topic);
          if (m?.[1]) states.set(m[1], payload.toString('utf8'));
        });
        await c.subscribeAsync('$SYS/broker/connection/+/state');
      }
      const down = (): string[] =>
        links
          .filter((b) => watchers.get(b)?.get(b.name) !== '1' || (b.parent && watchers.get(b.parent)?.get(b.name) !== '1'))
          .map((b) => b.name);
      await waitFor(() => down().length === 0, {
        timeoutMs: this.opts.connectTimeoutMs,
        intervalMs: 25,
        message: `bridges up (${down().join(', ')} still down)`,
      });
      await this.probe(edges);
    } finally {
      await Promise.all(clients.map((c) => c.endAsync()));
    }
  }

  /** Publishes probes at the ingress until each of `edges` has received one. */
  private async probe(edges: TreeBroker[]): Promise<void> {
    const token = secret();
    const seen = new Set<TreeBroker>();
    const subs: MqttClient[] = [];
    try {
      for (const e of edges) {
        const c = await this.connect(e);
        subs.push(c);
        c.on('message', (_t, payload) => {
          if (payload.toString('utf8') === token) seen.add(e);
        });
        await c.subscribeAsync(PROBE_TOPIC, { qos: 0 });
      }
      const pub = await this.connect(this.ingress);
      subs.push(pub);
      await waitFor(
        async () => {
          if (seen.size === edges.length) return true;
          await pub.publishAsync(PROBE_TOPIC, token, { qos: 0 });
          return false;
        },
        { timeoutMs: this.opts.connectTimeoutMs, intervalMs: 100, message: 'a probe from the ingress reaching every edge' },
      );
    } finally {
      await Promise.all(subs.map((c) => c.endAsync()));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.clients].map((c) => c.endAsync(true)));
    // Children first, so no bridge spends its last moments reconnecting.
    for (const b of this.all().reverse()) await b.broker.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async spawnEdge(edge: string, remotePassword: string): Promise<TreeBroker> {
    const node = await this.spawnNode('edge', `edge-${edge}`, this.intermediate, {
      file: 'edge.conf',
      port: 0,
      parentPort: this.intermediate.port,
      name: `edge-${edge}`,
      remotePassword,
    });
    this.edges[edge] = node;
    return node;
  }

  private async addUser(user: string, password: string, create = false): Promise<void> {
    await runChecked('mosquitto_passwd', [...(create ? ['-c'] : []), '-b', this.passwordFile, user, password]);
    await chmod(this.passwordFile, 0o644);
  }

  private async spawnNode(role: TreeRole, name: string, parent: TreeBroker | undefined, rw: Rewrite): Promise<TreeBroker> {
    const shipped = await readFile(join(BRIDGES_DIR, rw.file), 'utf8');
    let lastError: unknown;
    // A probed free port can be taken before mosquitto binds it: retry with another.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const configPath = join(this.dir, `${name}.conf`);
      await writeFile(configPath, this.rewrite(shipped, { ...rw, port }));
      const broker = new MosquittoBroker('/usr/sbin/mosquitto', this.dir, configPath, port, undefined, 15_000);
      try {
        await broker.start();
        return new TreeBroker(this, role, name, broker, parent);
      } catch (err) {
        lastError = err;
        await broker.stop();
        if (!broker.stderr().includes('Address already in use')) break;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  private rewrite(text: string, rw: Rewrite): string {
    const sub = (t: string, pattern: RegExp, line: string): string => substituteLine(t, pattern, line, rw.file);
    let out = sub(text, /^listener \d+ 127\.0\.0\.1$/, `listener ${rw.port} 127.0.0.1`);
    out = sub(out, /^sys_interval \d+$/, `sys_interval ${this.opts.sysIntervalS}`);
    if (rw.file !== 'edge.conf') {
      out = sub(out, /^password_file .*$/, `password_file ${this.passwordFile}`);
      out = sub(out, /^acl_file .*$/, `acl_file ${join(this.dir, 'tree.acl')}`);
    }
    if (rw.parentPort !== undefined) out = sub(out, /^address 127\.0\.0\.1:\d+$/, `address 127.0.0.1:${rw.parentPort}`);
    if (rw.remotePassword !== undefined) out = sub(out, /^remote_password .*$/, `remote_password ${rw.remotePassword}`);
    if (rw.name !== undefined) {
      out = sub(out, /^connection edge-a$/, `connection ${rw.name}`);
      out = sub(out, /^remote_clientid edge-a$/, `remote_clientid ${rw.name}`);
      out = sub(out, /^remote_username edge-a$/, `remote_username ${rw.name}`);
    }
    if (this.opts.rewrite) out = this.opts.rewrite(rw.file, out);
    return `# generated by test/helpers/bridge-tree.ts from deploy/bridges/${rw.file}\n${out}`;
  }
}

/** Starts ingress, intermediate and edges from the shipped configs; resolves when traffic flows. */
export async function startBridgeTree(opts: BridgeTreeOptions = {}): Promise<BridgeTree> {
  const full = {
    edges: opts.edges ?? ['a', 'b'],
    sysIntervalS: opts.sysIntervalS ?? 1,
    connectTimeoutMs: opts.connectTimeoutMs ?? 20_000,
    rewrite: opts.rewrite,
  };
  for (const e of full.edges) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(e)) throw new Error(`bridge tree: bad edge name "${e}"`);
  }
  const tree = new BridgeTree(await mkdtemp(join(tmpdir(), 'mqttcast-bridge-tree-')), full);
  try {
    await tree.init(full.edges);
    return tree;
  } catch (err) {
    await tree.close();
    throw err;
  }
}

/**
 * The next value of a numeric $SYS topic published AFTER this call (the retained copy
 * is skipped), so it counts everything the broker did before the call.
 */
export async function readSysValue(tree: BridgeTree, broker: TreeBroker, topic: string): Promise<number> {
  const client = await tree.connect(broker, 'monitor');
  try {
    const value = new Promise<number>((resolve, reject) => {
      client.on('message', (t, payload, packet) => {
        if (t !== topic || packet.retain) return;
        const n = Number.parseFloat(payload.toString('utf8')); // "2 seconds" for uptime
        if (Number.isFinite(n)) resolve(n);
        else reject(new Error(`${broker.name}: ${topic} is not a number: ${payload.toString('utf8')}`));
      });
    });
    await client.subscribeAsync(topic);
    return await withTimeout(value, (tree.opts.sysIntervalS * 1000 + 1000) * 5, `${broker.name}: ${topic}`);
  } finally {
    await client.endAsync();
  }
}

/** $SYS/broker/bytes/sent: every byte the broker has sent since it started. */
export function readBytesSent(tree: BridgeTree, broker: TreeBroker): Promise<number> {
  return readSysValue(tree, broker, '$SYS/broker/bytes/sent');
}

function secret(): string {
  return randomBytes(12).toString('hex');
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
