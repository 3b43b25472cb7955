/**
 * One <mqttcast-player>'s hold on the page's shared broker connection: takes a
 * lease (a slot, so its own reply topic) from the registry, attaches the Player
 * when the link is ready and detaches it when it drops, feeds it messages, and
 * passes the link's news on to the element.
 */
import type { Catalog } from '../protocol/index.js';
import type { LinkKey } from './broker-link.js';
import { sharedRegistry, type LinkLease } from './link-registry.js';
import type { Logger } from './log.js';
import type { ConnectionState } from './mqtt-connection.js';
import type { Player } from './player.js';

export interface PlayerLinkEvents {
  problem(): void;
  state(state: ConnectionState): void;
  catalog(catalog: Catalog): void;
}

export class PlayerLink {
  lease: LinkLease | null = null;
  private key = '';
  private off: Array<() => void> = [];

  constructor(
    private readonly player: Player,
    private readonly events: PlayerLinkEvents,
    private readonly log: Logger,
  ) {}

  /** Whether the player is on the link of this broker, credentials and prefix already. */
  holds(key: LinkKey): boolean {
    return this.lease !== null && JSON.stringify(key) === this.key;
  }

  bind(key: LinkKey): void {
    this.unbind();
    const lease = sharedRegistry(this.log).acquire(key);
    const { link } = lease;
    this.lease = lease;
    this.key = JSON.stringify(key);
    const attach = (): void => this.player.attach(link.transport!, link.requests(lease.slot));
    this.off = [
      link.on('ready', attach),
      link.on('down', () => this.player.detach()),
      link.on('message', (topic, bytes) => this.player.handleMessage(topic, bytes)),
      link.on('problem', () => this.events.problem()),
      link.on('state', (state) => this.events.state(state)),
      link.on('catalog', (catalog) => this.events.catalog(catalog)),
    ];
    if (link.ready) attach();
  }

  /** Leaves the link (the connection closes when this was its last player). */
  unbind(): void {
    for (const off of this.off.splice(0)) off();
    const lease = this.lease;
    this.lease = null;
    this.key = '';
    this.player.detach();
    lease?.release().catch((err: unknown) => this.log.warn('disconnect failed', err));
  }
}
