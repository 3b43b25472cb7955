import { describe, expect, it } from 'vitest';
import type { Catalog } from '../protocol/index.js';
import { channelStateOf, parseWallParam, resolveWallName } from './wall.js';
import { targetOf } from './player-element-target.js';

const catalog = {
  sources: [{ name: 'demo' }, { name: 'live/cam1' }, { name: 'cam2' }, { name: 'live/cam2' }],
  channels: [
    { name: 'cam1', source: 'live/cam1', state: 'live' },
    { name: 'cam2', source: 'live/cam2', state: 'live' },
    { name: 'cam4', source: 'live/cam4', state: 'offline' },
  ],
} as unknown as Catalog;

describe('wall names', () => {
  it('reads ?wall= as a trimmed list without empties or repeats', () => {
    expect(parseWallParam(' cam1, cam2 ,,demo,cam1 ')).toEqual(['cam1', 'cam2', 'demo']);
    expect(parseWallParam(null)).toEqual([]);
    expect(parseWallParam('rtsp://127.0.0.1:8554/test,demo')).toEqual(['rtsp://127.0.0.1:8554/test', 'demo']);
  });

  it('resolves a short name to a named source first, then to its channel, else leaves it as given', () => {
    expect(resolveWallName('demo', catalog)).toBe('demo');
    expect(resolveWallName('cam1', catalog)).toBe('live/cam1');
    expect(resolveWallName('cam2', catalog)).toBe('cam2'); // a configured source wins over a channel of the same name
    expect(resolveWallName('cam3', catalog)).toBe('cam3');
    expect(resolveWallName('cam4', catalog)).toBe('live/cam4'); // offline: its tile shows its last picture and why
    expect(resolveWallName('cam1', null)).toBe('cam1');
    expect(resolveWallName('rtsp://x/cam1', catalog)).toBe('rtsp://x/cam1');
  });

  it('badges a channel tile live or offline from the catalog, and no other tile', () => {
    expect(channelStateOf('live/cam1', catalog)).toBe('live');
    expect(channelStateOf('live/cam4', catalog)).toBe('offline');
    expect(channelStateOf('live/cam9', catalog)).toBe('');
    expect(channelStateOf('demo', catalog)).toBe('');
    expect(channelStateOf('live/cam1', null)).toBe('');
  });

  it('plays a `source` with :// as a URL, anything else as a named source', () => {
    expect(targetOf('rtsp://127.0.0.1/x')).toEqual({ url: 'rtsp://127.0.0.1/x' });
    expect(targetOf(' live/cam1 ')).toEqual({ source: 'live/cam1' });
    expect(targetOf('')).toBeNull();
    expect(targetOf(null)).toBeNull();
  });
});
