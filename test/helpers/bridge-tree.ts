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
 *   // a media server at an edge:  mqttcast serve --broker <tree.edges.a.url> --http-port <free port>
 *   // a publisher at the ingress (test/bridges.test.ts does this):
 *   //   mqttcast publish demo --name cam1 --broker <tree.ingress.url>
 *   //     -u <tree.users.publisher.username> -P <tree.users.publisher.password>
 *   await tree.intermediate.restart();         // resolves when every bridge carries traffic again
 *   await tree.edges.a!.stop(); await tree.edges.a!.start();   // the same for one edge
 *   const late = await tree.addEdge('c');      // a new edge joins a running tree
 *   const sent = await readBytesSent(tree, tree.ingress);   // $SYS/broker/bytes/sent
 *   await tree.close();                        // in afterAll: stops every broker, ends clients
 *
 * Users: on the ingress and intermediate `tree.connect(b)` logs in as "publisher" (reads and
 * writes video/live/#) and `tree.connect(b, 'monitor')` as "monitor" (reads everything,
 * $SYS included); edges take anonymous clients. Each TreeBroker has url, port, pid,
 * configPath (the generated file), stderr() (Mosquitto's log), stop/start/restart.
 *
 * "Connected" means more than a TCP connection: each bridge's state is "1" on both ends
 * ($SYS/broker/connection/<name>/state) AND a probe published at the ingress on
 * video/live/_probe/ping has reached every edge (Mosquitto announces a bridge before
 * it has subscribed at the parent, so the state alone can race a first publish).
 */
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { BRIDGES_DIR, rewriteShipped, type ConfigRewrite, type Credentials, type ShippedConfig, type TreeRole, type TreeUser } from './bridge-tree-config.js';
import { TreeBroker } from './bridge-tree-broker.js';
import { runChecked } from './child.js';
import { MosquittoBroker } from './mosquitto.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export { BRIDGES_DIR, substituteLine, type Credentials, type ShippedConfig, type TreeRole, type TreeUser } from './bridge-tree-config.js';
export { TreeBroker } from './bridge-tree-broker.js';
export { readBytesSent, readSysValue } from './bridge-tree-sys.js';

export const PROBE_TOPIC = 'video/live/_probe/ping';

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

export interface AddEdgeOptions {
  /** Password the edge's bridge presents (default: the right one). */
  remotePassword?: string;
  /** Wait until the new edge carries traffic (default true; false for an edge that must fail). */
  waitConnected?: boolean;
}

type Spawn = Omit<ConfigRewrite, 'port' | 'sysIntervalS' | 'extra'>;

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
    const files = { passwordFile: this.passwordFile, aclFile: join(this.dir, 'tree.acl') };
    this.ingressNode = await this.spawnNode('ingress', 'ingress', undefined, { file: 'ingress.conf', ...files });
    this.intermediateNode = await this.spawnNode('intermediate', 'intermediate-1', this.ingressNode, {
      file: 'intermediate.conf',
      ...files,
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

  private async spawnNode(role: TreeRole, name: string, parent: TreeBroker | undefined, rw: Spawn): Promise<TreeBroker> {
    const shipped = await readFile(join(BRIDGES_DIR, rw.file), 'utf8');
    let lastError: unknown;
    // A probed free port can be taken before mosquitto binds it: retry with another.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const configPath = join(this.dir, `${name}.conf`);
      await writeFile(configPath, rewriteShipped(shipped, { ...rw, port, sysIntervalS: this.opts.sysIntervalS, extra: this.opts.rewrite }));
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

function secret(): string {
  return randomBytes(12).toString('hex');
}
