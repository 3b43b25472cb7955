import { describe, expect, it } from 'vitest';
import type { Catalog } from '../protocol/index.js';
import { sourceEntries, stateText } from './source-cards.js';

const catalog: Catalog = {
  protocol: 1,
  server: 'mqttcast',
  version: '0.1.0',
  prefix: 'video',
  secure: false,
  sources: [
    { name: 'demo', description: 'Test pattern', live: true },
    { name: 'live/cam1', description: 'Live channel cam1 (from host:1)', live: true },
  ],
  channels: [
    { name: 'cam1', source: 'live/cam1', state: 'live', publisher: 'host:1' },
    { name: 'cam2', source: 'live/cam2', state: 'offline', publisher: 'host:2', reason: 'connection_lost' },
  ],
  allow: [],
};

describe('source cards', () => {
  it('lists the sources in catalog order, channels by their name with their state, then the offline channels', () => {
    expect(sourceEntries(catalog)).toEqual([
      { source: 'demo', label: 'demo', description: 'Test pattern', channel: null, state: 'source', reason: '' },
      { source: 'live/cam1', label: 'cam1', description: 'Live channel cam1 (from host:1)', channel: 'cam1', state: 'live', reason: '' },
      { source: 'live/cam2', label: 'cam2', description: 'Live channel cam2 (from host:2)', channel: 'cam2', state: 'offline', reason: 'connection_lost' },
    ]);
  });

  it('treats a configured source named like a channel as a plain source when no channel has that name', () => {
    const entries = sourceEntries({ ...catalog, sources: [{ name: 'live/x', description: '', live: true }], channels: [] });
    expect(entries).toEqual([{ source: 'live/x', label: 'live/x', description: '', channel: null, state: 'source', reason: '' }]);
  });

  it('says why an offline channel is offline', () => {
    expect(stateText({ state: 'offline', reason: 'connection_lost' })).toBe('Offline (connection lost)');
    expect(stateText({ state: 'offline', reason: '' })).toBe('Offline');
    expect(stateText({ state: 'live', reason: '' })).toBe('Live');
  });
});
