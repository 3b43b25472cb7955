/**
 * The page's broker connections, counted by reference: every player with the
 * same broker URL, credentials and prefix shares one BrokerLink (one MQTT
 * connection, one client id); the last one to leave closes it.
 */
import { BrokerLink, type BrokerLinkOptions, type LinkKey } from './broker-link.js';
import type { Logger } from './log.js';

/** One player's hold on a shared link: its slot (reply topic) and the way to let go. */
export interface LinkLease {
  readonly link: BrokerLink;
  readonly slot: number;
  /** Frees the slot; closes the connection when nobody else uses it. Idempotent. */
  release(): Promise<void>;
}

interface Entry {
  link: BrokerLink;
  users: number;
}

export class LinkRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly log: Logger,
    private readonly connect?: BrokerLinkOptions['connect'],
  ) {}

  /** Open connections, for the page's debug object and tests. */
  get size(): number {
    return this.entries.size;
  }

  acquire(key: LinkKey): LinkLease {
    const id = keyOf(key);
    let entry = this.entries.get(id);
    if (!entry) {
      const link = new BrokerLink({ key, log: this.log.child('link'), ...(this.connect ? { connect: this.connect } : {}) });
      entry = { link, users: 0 };
      this.entries.set(id, entry);
    }
    entry.users++;
    const held = entry;
    const slot = held.link.takeSlot();
    let released = false;
    return {
      link: held.link,
      slot,
      release: async () => {
        if (released) return;
        released = true;
        held.link.freeSlot(slot);
        if (--held.users > 0) return;
        if (this.entries.get(id) === held) this.entries.delete(id);
        await held.link.close();
      },
    };
  }
}

/** Broker URL, credentials and prefix; the password is part of the key but only in memory. */
function keyOf(key: LinkKey): string {
  return JSON.stringify([key.url, key.username ?? '', key.password ?? '', key.prefix]);
}

let shared: LinkRegistry | undefined;

/** The page-wide registry every <mqttcast-player> uses. */
export function sharedRegistry(log: Logger): LinkRegistry {
  shared ??= new LinkRegistry(log);
  return shared;
}
