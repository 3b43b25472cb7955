/**
 * Home Assistant MQTT discovery for live channels: one retained config per channel on
 * `<prefix>/camera/mqttcast_<name>/config` describing an MQTT camera whose picture is the
 * channel's snapshot topic and whose availability follows the channel's meta (`live` →
 * available). Removed (empty retained message) when the channel's meta is removed.
 * Keys are Home Assistant's documented ones for the MQTT camera and its device block.
 */
import { channelTopics } from '../../protocol/index.js';

export interface DiscoveryContext {
  /** mqttcast's topic prefix (`video`). */
  prefix: string;
  /** Home Assistant's discovery prefix (`homeassistant`). */
  discoveryPrefix: string;
  version: string;
  /** This server's web page as Home Assistant's users reach it (device link to the live view). */
  pageUrl?: string;
}

/** `mqttcast_<name>` with the characters Home Assistant allows in an object id (`.` → `_`). */
export function discoveryObjectId(channel: string): string {
  return `mqttcast_${channel.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export function discoveryTopic(discoveryPrefix: string, channel: string): string {
  return `${discoveryPrefix}/camera/${discoveryObjectId(channel)}/config`;
}

/** The page that plays channel `name` live: the wall with that one tile (it starts by itself). */
export function livePageUrl(pageUrl: string, channel: string): string {
  const url = new URL(pageUrl);
  url.searchParams.set('wall', `live/${channel}`);
  return url.href;
}

/** The retained discovery config of channel `name`. */
export function cameraDiscovery(ctx: DiscoveryContext, channel: string): Record<string, unknown> {
  const topics = channelTopics(ctx.prefix, channel);
  const id = discoveryObjectId(channel);
  return {
    // The entity is the device's main feature: it takes the device's name (camera.mqttcast_<name>).
    name: null,
    unique_id: id,
    default_entity_id: `camera.${id}`,
    topic: topics.snapshot,
    availability: [{ topic: topics.meta, value_template: "{{ 'online' if value_json.state == 'live' else 'offline' }}" }],
    json_attributes_topic: topics.meta,
    json_attributes_template: '{{ {"state": value_json.state, "bitrate": value_json.bitrate, "publisher": value_json.publisher, "started_at": value_json.started_at, "source": "live/' + channel + '"} | tojson }}',
    icon: 'mdi:cctv',
    device: {
      identifiers: [id],
      name: `mqttcast ${channel}`,
      manufacturer: 'mqttcast',
      model: 'Live channel',
      sw_version: ctx.version,
      ...(ctx.pageUrl ? { configuration_url: livePageUrl(ctx.pageUrl, channel) } : {}),
    },
    origin: { name: 'mqttcast', sw_version: ctx.version },
  };
}
