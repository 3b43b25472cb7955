/**
 * Which network addresses ffmpeg may reach. Loopback, private, link-local,
 * cloud-metadata and other special ranges are refused unless the allowlist
 * entry that matched names the IP literal itself; host names are resolved here,
 * before anything connects, so a DNS name cannot point at those ranges.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { MqttcastError } from '../../protocol/index.js';

const SPECIAL_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const SPECIAL_V6: Array<[string, number]> = [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['2001:db8::', 32], ['100::', 64],
];

const special = new net.BlockList();
for (const [a, p] of SPECIAL_V4) special.addSubnet(a, p, 'ipv4');
for (const [a, p] of SPECIAL_V6) special.addSubnet(a, p, 'ipv6');

/** The IPv4 address inside an IPv4-mapped, -compatible or NAT64 IPv6 address. */
function embeddedV4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const m = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (m) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** True for loopback, private, link-local, metadata (169.254.169.254), multicast, reserved. */
export function isSpecialAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return special.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedV4(address);
    if (v4) return special.check(v4, 'ipv4');
    return special.check(address, 'ipv6');
  }
  return true; // not an address at all: refuse
}

/** Host part of a URL without IPv6 brackets. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Resolves `host` and returns the address to connect to. `trustedLiteral` is true
 * when the matching allowlist entry names this IP literal, which is then allowed
 * even in a special range.
 */
export async function resolveAllowed(host: string, trustedLiteral: boolean, resolver: Resolver = systemResolver): Promise<string> {
  const bare = bareHost(host);
  if (net.isIP(bare)) {
    if (isSpecialAddress(bare) && !trustedLiteral) {
      throw new MqttcastError('URL_NOT_ALLOWED', `URL refused: ${bare} is a private or reserved address; name it explicitly in the allowlist`);
    }
    return bare;
  }
  let addresses: string[];
  try {
    addresses = await resolver(bare);
  } catch {
    throw new MqttcastError('SOURCE_UNAVAILABLE', `could not resolve host name "${bare.slice(0, 100)}"`);
  }
  const bad = addresses.find(isSpecialAddress);
  if (addresses.length === 0 || bad) {
    throw new MqttcastError(
      'URL_NOT_ALLOWED',
      `URL refused: ${bare.slice(0, 100)} resolves to ${bad ?? 'nothing'}, a private or reserved address; allow the IP address itself if that is intended`,
    );
  }
  return addresses[0]!;
}
