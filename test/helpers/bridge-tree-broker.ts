/** One Mosquitto of a bridge tree (test/helpers/bridge-tree.ts). */
import type { IClientOptions } from 'mqtt';
import type { Credentials, TreeRole, TreeUser } from './bridge-tree-config.js';
import type { MosquittoBroker, StopBrokerOptions } from './mosquitto.js';

/** What a TreeBroker needs of its tree. */
export interface TreeContext {
  readonly users: Record<TreeUser, Credentials>;
  waitConnected(): Promise<void>;
}

/** One broker of the tree. Ports stay the same across stop()/start()/restart(). */
export class TreeBroker {
  constructor(
    readonly tree: TreeContext,
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
