import { ErrorWithSubackPacket, type MqttClient } from 'mqtt';

/** SUBACK return codes for `filters` (MQTT.js rejects a SUBACK that contains 128, but keeps the packet). */
export async function subackCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters)).map((g) => g.qos);
  } catch (err) {
    if (err instanceof ErrorWithSubackPacket && err.packet?.cmd === 'suback') return err.packet.granted.map(Number);
    throw err;
  }
}
