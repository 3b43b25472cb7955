/**
 * Keys Home Assistant documents for an MQTT camera's discovery payload, its `device` block
 * and the discovery `origin` block (home-assistant.io/integrations/camera.mqtt/ and the MQTT
 * integration's discovery page, as of Home Assistant 2025.11). Discovery drops keys it does
 * not know without a word, so a misspelt key would simply not work: tests check ours against
 * these lists.
 */
export const HA_CAMERA_KEYS = [
  'availability',
  'availability_mode',
  'availability_template',
  'availability_topic',
  'default_entity_id',
  'device',
  'enabled_by_default',
  'encoding',
  'entity_category',
  'entity_picture',
  'icon',
  'image_encoding',
  'json_attributes_template',
  'json_attributes_topic',
  'name',
  'object_id',
  'origin',
  'platform',
  'qos',
  'topic',
  'unique_id',
];

export const HA_AVAILABILITY_KEYS = ['payload_available', 'payload_not_available', 'topic', 'value_template'];

export const HA_DEVICE_KEYS = [
  'configuration_url',
  'connections',
  'hw_version',
  'identifiers',
  'manufacturer',
  'model',
  'model_id',
  'name',
  'serial_number',
  'suggested_area',
  'sw_version',
  'via_device',
];

export const HA_ORIGIN_KEYS = ['name', 'sw_version', 'support_url'];
