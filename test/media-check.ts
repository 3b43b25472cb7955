/** Checks on what a play delivered: whole boxes per message, init first, and a decodable whole. */
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { iterateBoxes, parseFragment, topLevelTypes } from '../protocol/index.js';
import { runCommand } from './helpers/child.js';

/** Asserts message 1 is ftyp+moov, every other message is [styp][prft]moof+mdat, each exactly whole boxes. */
export function expectBoxAlignedStream(messages: Buffer[], minFragments = 3): void {
  expect(messages.length).toBeGreaterThanOrEqual(minFragments + 1);
  for (const m of messages) {
    // iterateBoxes throws if a box overruns the message: the message is a whole set of boxes.
    let total = 0;
    for (const box of iterateBoxes(m)) total = box.end;
    expect(total).toBe(m.byteLength);
  }
  expect(topLevelTypes(messages[0]!)).toEqual(['ftyp', 'moov']);
  for (const m of messages.slice(1)) {
    const types = topLevelTypes(m).filter((t) => t !== 'prft' && t !== 'styp');
    expect(types).toEqual(['moof', 'mdat']);
    expect(parseFragment(m).sequence).toBeGreaterThan(0);
  }
}

/**
 * Writes the concatenation to a file and decodes it fully with ffmpeg; returns ffprobe's streams.
 * `variableFrameRate`: the frames keep their own times (a browser camera's frames come 45, 55, 50 ms
 * apart; ffmpeg's null output would otherwise round two of them onto one tick of its guessed
 * frame rate and report "non monotonically increasing dts" for a stream whose times do increase).
 */
export async function expectDecodable(messages: Buffer[], opts: { variableFrameRate?: boolean } = {}): Promise<Array<{ codec_name: string; codec_type: string }>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-decode-'));
  try {
    const file = path.join(dir, 'out.mp4');
    await writeFile(file, Buffer.concat(messages));
    const vfr = opts.variableFrameRate ? ['-fps_mode', 'passthrough', '-enc_time_base:v', '-1'] : [];
    const decode = await runCommand('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, ...vfr, '-f', 'null', '-']);
    expect(decode.stderr.trim()).toBe('');
    expect(decode.code).toBe(0);
    const probe = await runCommand('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file]);
    expect(probe.code).toBe(0);
    expect(probe.stderr.trim()).toBe('');
    return (JSON.parse(probe.stdout.toString('utf8')) as { streams: Array<{ codec_name: string; codec_type: string }> }).streams;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
