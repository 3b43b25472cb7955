/* global performance */
// Time from spawn to the first fMP4 byte on stdout, 7 interleaved rounds each.
import { spawn } from 'node:child_process';
import ffmpeg from 'fluent-ffmpeg';
const input = ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25'];
const out = ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof'];
function direct() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', ...input, ...out, 'pipe:1'], { detached: true });
    c.stdout.once('data', () => { const ms = performance.now() - t0; process.kill(-c.pid, 'SIGKILL'); c.once('close', () => resolve(ms)); });
  });
}
function fluent() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const cmd = ffmpeg().input('testsrc2=size=320x240:rate=25').inputOptions(['-re', '-f', 'lavfi']).outputOptions(out.slice(0, -4)).format('mp4').outputOptions(['-movflags', 'frag_keyframe+empty_moov+default_base_moof']);
    const stream = cmd.pipe();
    stream.once('data', () => { const ms = performance.now() - t0; cmd.once('error', () => resolve(ms)); cmd.kill('SIGKILL'); });
  });
}
const r = { direct: [], fluent: [] };
for (let i = 0; i < 7; i++) { r.direct.push(await direct()); r.fluent.push(await fluent()); }
for (const [k, v] of Object.entries(r)) console.log(k, 'median first byte ms', v.sort((a, b) => a - b)[3].toFixed(1), v.map((x) => x.toFixed(0)).join(' '));
