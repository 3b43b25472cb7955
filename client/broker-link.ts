/**
 * One MQTT connection to one broker with one set of credentials, shared by every
 * player of the page that uses them: the catalog, the request route learnt from
 * it (prefix, secure mode), the last-will, and a slot (own reply topic) per player.
 */
import { CatalogSchema, createTopics, isValidPrefix, type Catalog } from '../protocol/index.js';
import { Emitter } from './emitter.js';
import { playerError, type PlayerError } from './errors.js';
import type { Logger } from './log.js';
import { MqttConnection, type ConnectionState, type MqttConnectionOptions } from './mqtt-connection.js';
import { Requests, newClientId, type RequestRoute } from './requests.js';
import { loadRoute, saveRoute } from './settings.js';

/** How long to wait for the retained catalog before assuming open mode. */
const CATALOG_WAIT_MS = 2000;

export interface LinkKey {
  url: string;
  username?: string;
  password?: string;
  /** Topic prefix assumed until the catalog says otherwise. */
  prefix: string;
}

export type LinkEvents = {
  state: (state: ConnectionState) => void;
  /** Connected and the route is known: players may send requests (again). */
  ready: () => void;
  /** The connection dropped or is being replaced: players stop their sessions locally. */
  down: () => void;
  message: (topic: string, payload: Uint8Array<ArrayBuffer>) => void;
  catalog: (catalog: Catalog) => void;
  /** A broker problem to show (or null once it is over). */
  problem: (error: PlayerError | null) => void;
};

export interface BrokerLinkOptions {
  key: LinkKey;
  log: Logger;
  /** Replaced in tests (a fake MQTT.js client). */
  connect?: MqttConnectionOptions['connect'];
}

export class BrokerLink extends Emitter<LinkEvents> {
  readonly clientId = newClientId(() => crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32);
  catalog: Catalog | null = null;
  error: PlayerError | null = null;
  route: RequestRoute;
  /** Whether players may send requests now. */
  ready = false;
  private connection: MqttConnection | null = null;
  private catalogTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly slots = new Set<number>();
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly options: BrokerLinkOptions) {
    super();
    this.log = options.log;
    this.route = loadRoute(options.key.url, this.log) ?? { prefix: options.key.prefix, secure: false };
    this.connect();
  }

  get url(): string {
    return this.options.key.url;
  }

  get state(): ConnectionState {
    return this.connection?.state ?? 'closed';
  }

  /** The connection players send on; null before the first connect. */
  get transport(): MqttConnection | null {
    return this.connection;
  }

  /** The lowest free slot; slot 0 is the page's first player. */
  takeSlot(): number {
    let slot = 0;
    while (this.slots.has(slot)) slot++;
    this.slots.add(slot);
    return slot;
  }

  freeSlot(slot: number): void {
    this.slots.delete(slot);
  }

  get slotCount(): number {
    return this.slots.size;
  }

  requests(slot: number): Requests {
    return new Requests(this.clientId, this.route, this.options.key.username, slot);
  }

  /** Ends the connection (DISCONNECT after what is pending, so a last stop still goes out). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.catalogTimer);
    this.setReady(false);
    const conn = this.connection;
    this.connection = null;
    this.removeAllListeners();
    await conn?.end();
  }

  /**
   * The last-will: in open mode `P/unregister` ends every session of this client id
   * (all players on the connection); in secure mode, where only per-client request
   * topics exist, the first player's stop; the others end when their acks stop.
   */
  private will(): { topic: string; payload: string } {
    const requests = this.requests(0);
    return this.route.secure ? requests.stop() : requests.unregister();
  }

  private connect(): void {
    clearTimeout(this.catalogTimer);
    this.connection?.destroy();
    this.setReady(false);
    const { key } = this.options;
    const conn = new MqttConnection({
      url: key.url,
      clientId: this.clientId,
      username: key.username,
      password: key.password,
      will: this.will(),
      log: this.log.child('mqtt'),
      ...(this.options.connect ? { connect: this.options.connect } : {}),
    });
    this.connection = conn;
    this.emit('state', conn.state);
    conn.on('state', (state) => {
      this.emit('state', state);
      if (state === 'connected') this.onConnected(conn);
      else {
        clearTimeout(this.catalogTimer);
        this.setReady(false);
      }
    });
    conn.on('problem', (message, refused) => {
      if (conn.everConnected && !refused) return; // a drop: the state says "Reconnecting…"
      if (refused) this.setError(playerError('BROKER_REFUSED', message));
      else if (this.error?.code !== 'BROKER_REFUSED') this.setError(playerError('BROKER_UNREACHABLE', `${message}. Retrying…`));
    });
    conn.on('message', (topic, bytes) => {
      if (topic === createTopics(this.route.prefix).catalog) this.onCatalog(conn, bytes);
      else this.emit('message', topic, bytes);
    });
  }

  private onConnected(conn: MqttConnection): void {
    this.setError(null);
    const catalogTopic = createTopics(this.route.prefix).catalog;
    conn.subscribe({ [catalogTopic]: 1 }).catch((err: unknown) => this.log.warn('catalog subscription failed', err));
    clearTimeout(this.catalogTimer);
    this.catalogTimer = setTimeout(() => this.markReady(conn), this.catalog ? 0 : CATALOG_WAIT_MS);
  }

  private onCatalog(conn: MqttConnection, bytes: Uint8Array): void {
    let parsed: Catalog;
    try {
      parsed = CatalogSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
    } catch (err) {
      this.log.warn('ignoring an invalid catalog', err);
      return;
    }
    this.catalog = parsed;
    this.emit('catalog', parsed);
    const next: RequestRoute = { prefix: isValidPrefix(parsed.prefix) ? parsed.prefix : this.route.prefix, secure: parsed.secure };
    if (next.prefix !== this.route.prefix || next.secure !== this.route.secure) {
      // The last-will names request topics, which depend on the mode: reconnect with the right one.
      this.route = next;
      saveRoute(this.url, next, this.log);
      this.connect();
      return;
    }
    this.markReady(conn);
  }

  private markReady(conn: MqttConnection): void {
    clearTimeout(this.catalogTimer);
    if (conn !== this.connection || !conn.connected) return;
    this.setReady(true);
  }

  private setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.emit(ready ? 'ready' : 'down');
  }

  private setError(error: PlayerError | null): void {
    if (this.error?.message === error?.message && this.error?.detail === error?.detail) return;
    this.error = error;
    this.emit('problem', error);
  }
}
