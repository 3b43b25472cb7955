/**
 * MQTT 5 properties of wire protocol v1. MQTT 3.1.1 clients never see them; MQTT 5
 * clients (mosquitto_rr, the web player, the CLI) get a Content Type on every message,
 * their request's Correlation Data back on replies and status, and media that a broker
 * drops instead of delivering late.
 */
export const CONTENT_TYPE_MEDIA = 'video/mp4';
export const CONTENT_TYPE_JSON = 'application/json';

/**
 * Message Expiry Interval of a media fragment, in seconds (MQTT 5's unit; 1 is the
 * smallest non-zero value). A live player holds well under a second of buffer and
 * skips to the live edge when it falls further behind, so a fragment a broker has held
 * for 2 s for a slow subscriber is stale: dropping it lets that viewer's next message be
 * current instead of making it play old video. 2 s rather than 1 s leaves room for a
 * 1 s GOP plus jitter on a busy broker. The init segment does not expire (a viewer
 * cannot decode anything without it).
 */
export const FRAGMENT_EXPIRY_S = 2;

/** Properties of a binary media message (`isInit`: the init segment, which never expires). */
export function mediaProperties(isInit: boolean): { contentType: string; messageExpiryInterval?: number } {
  return isInit ? { contentType: CONTENT_TYPE_MEDIA } : { contentType: CONTENT_TYPE_MEDIA, messageExpiryInterval: FRAGMENT_EXPIRY_S };
}

/** Properties of a JSON reply or status, echoing the request's Correlation Data. */
export function jsonProperties(correlationData?: Uint8Array): { contentType: string; correlationData?: Uint8Array } {
  return correlationData ? { contentType: CONTENT_TYPE_JSON, correlationData } : { contentType: CONTENT_TYPE_JSON };
}

/**
 * Whether a connection error means "this broker does not speak MQTT 5", so the client
 * should try again with 3.1.1: CONNACK return code 1 (MQTT 3.1.1 brokers such as
 * Aedes 1.x) or reason code 0x84 "Unsupported Protocol Version" (MQTT 5 brokers).
 */
export function refusesMqtt5(err: { code?: unknown; message: string }): boolean {
  return err.code === 1 || err.code === 0x84 || /unacceptable protocol version|unsupported protocol/i.test(err.message);
}
