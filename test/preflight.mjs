#!/usr/bin/env node
/**
 * Preflight of `npm test` and `npm run bench`: checks that every program, GStreamer
 * element and file the tests and the bench use is on this machine. When something is
 * missing it prints ONE line naming the missing pieces and the `apt-get install` that
 * fixes them, and exits 1 — in a second, instead of 30-second timeouts deep inside tests.
 *
 * Plain JavaScript on purpose: it runs before `npm install` (in .ci/run) with bare Node.
 *
 *   node test/preflight.mjs              check (exit 0 ok, 1 missing)
 *   node test/preflight.mjs --print-apt  print every Debian package the suite needs, one line
 *   node test/preflight.mjs --require-tool NAME=PACKAGE --require-element NAME=PACKAGE
 *                                        also require these (used to test the preflight itself)
 *
 * The table below is the one list of system packages: .ci/run installs exactly
 * `--print-apt`, and a test checks that the README's apt-get line names the same set.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const RTSP_SCRIPT = fileURLToPath(new URL('./helpers/rtsp-server.py', import.meta.url));

/** Programs: name (looked up on PATH) or absolute path → Debian package, and why. */
const TOOLS = [
  { name: 'ffmpeg', apt: 'ffmpeg', why: 'makes fragmented MP4 (media server, tests, bench)' },
  { name: 'ffprobe', apt: 'ffmpeg', why: 'probes sources and checks test output' },
  { name: 'ffplay', apt: 'ffmpeg', why: 'README recipe "play into ffplay"' },
  { name: '/usr/sbin/mosquitto', apt: 'mosquitto', why: 'Mosquitto deployment, auth and bridge tests' },
  { name: 'mosquitto_passwd', apt: 'mosquitto', why: 'password files of the Mosquitto auth tests' },
  { name: 'mosquitto_pub', apt: 'mosquitto-clients', why: 'scripting recipes and tests' },
  { name: 'mosquitto_sub', apt: 'mosquitto-clients', why: 'scripting recipes and tests' },
  { name: 'mosquitto_rr', apt: 'mosquitto-clients', why: 'MQTT 5 request/response recipes and tests' },
  { name: '/usr/bin/chromium', apt: 'chromium', why: 'browser tests and the bench (playwright-core drives it)' },
  { name: 'systemd-analyze', apt: 'systemd', why: 'verifies the shipped systemd unit' },
  { name: PYTHON, apt: 'python3', why: 'runs the GStreamer RTSP test source' },
  { name: 'prlimit', apt: 'util-linux', why: 'resource limits of ffmpeg' },
  { name: 'setpriv', apt: 'util-linux', why: 'mqttcast publish: ffmpeg dies with its parent (--pdeathsig)' },
];

/** Files that must exist. */
const FILES = [
  { name: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', apt: 'fonts-dejavu-core', why: 'the demo source burns in its clock with this font' },
];

/** Python modules (checked with the system interpreter) and GObject typelibs. */
const PYTHON_CHECKS = [
  { name: 'python3-gi', code: 'import gi', apt: 'python3-gi', why: 'GStreamer from Python' },
  {
    name: 'GstRtspServer 1.0',
    code: "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
    apt: 'gir1.2-gst-rtsp-server-1.0',
    why: 'the RTSP test source',
  },
];

/**
 * GStreamer elements → package. The RTSP test source itself says which elements its
 * pipelines use (`rtsp-server.py --check`); an element missing from this table is an error.
 */
const GST_ELEMENTS = {
  videotestsrc: 'gstreamer1.0-plugins-base',
  audiotestsrc: 'gstreamer1.0-plugins-base',
  audioconvert: 'gstreamer1.0-plugins-base',
  audioresample: 'gstreamer1.0-plugins-base',
  timeoverlay: 'gstreamer1.0-x',
  x264enc: 'gstreamer1.0-plugins-ugly',
  rtph264pay: 'gstreamer1.0-plugins-good',
  rtpmp4gpay: 'gstreamer1.0-plugins-good',
  avenc_aac: 'gstreamer1.0-libav',
};

/** ffmpeg features the demo source and the transcoder use. */
const FFMPEG_FEATURES = [
  { kind: 'encoders', name: 'libx264' },
  { kind: 'encoders', name: 'aac' },
  { kind: 'filters', name: 'drawtext' },
];

/** Every Debian package the suite needs, in a stable order. */
export function aptPackages() {
  const all = [...TOOLS, ...FILES, ...PYTHON_CHECKS].map((r) => r.apt).concat(Object.values(GST_ELEMENTS));
  return [...new Set(all)];
}

function onPath(name) {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, name));
  return candidates.some((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false; // not here; try the next directory
    }
  });
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Returns the missing pieces: [{ what, apt, why }]. */
export function findMissing(extra = { tools: [], elements: {} }) {
  const missing = [];
  for (const t of [...TOOLS, ...extra.tools]) {
    if (!onPath(t.name)) missing.push({ what: t.name.replace(/^.*\//, ''), apt: t.apt, why: t.why });
  }
  for (const f of FILES) if (!existsSync(f.name)) missing.push({ what: f.name, apt: f.apt, why: f.why });

  if (onPath('ffmpeg')) {
    for (const feature of FFMPEG_FEATURES) {
      const r = run('ffmpeg', ['-hide_banner', `-${feature.kind}`]);
      if (!new RegExp(`\\s${feature.name}\\s`).test(r.stdout)) {
        missing.push({ what: `ffmpeg ${feature.kind.slice(0, -1)} ${feature.name}`, apt: 'ffmpeg', why: 'this ffmpeg build lacks it; Debian\'s has it' });
      }
    }
  }

  if (!onPath(PYTHON)) return missing; // python3 is already reported; the rest needs it
  let pythonOk = true;
  for (const p of PYTHON_CHECKS) {
    if (!run(PYTHON, ['-c', p.code]).ok) {
      missing.push({ what: p.name, apt: p.apt, why: p.why });
      pythonOk = false;
      break; // later checks need the earlier ones
    }
  }
  const elements = { ...GST_ELEMENTS, ...extra.elements };
  if (pythonOk) {
    const names = [...new Set([...gstElementsMissing(Object.keys(extra.elements))])];
    for (const name of names) {
      const apt = elements[name];
      missing.push({ what: `GStreamer element ${name}`, apt: apt ?? '?', why: apt ? 'the RTSP test source' : 'no package known: add it to GST_ELEMENTS in test/preflight.mjs' });
    }
  }
  return missing;
}

/** Asks the RTSP test source which of its elements (plus `also`) this machine lacks. */
function gstElementsMissing(also) {
  const r = run(PYTHON, [RTSP_SCRIPT, '--check', ...also.flatMap((e) => ['--also-element', e])]);
  const line = r.stdout.split('\n').find((l) => l.startsWith('MISSING') || l === 'OK');
  if (line === undefined) return [`(rtsp-server.py --check failed: ${r.stderr.trim().split('\n').pop() ?? 'no output'})`];
  return line === 'OK' ? [] : line.slice('MISSING'.length).trim().split(/\s+/);
}

/** The one line a person reads when something is missing. */
export function missingLine(missing) {
  const pieces = missing.map((m) => m.what).join(', ');
  const apt = [...new Set(missing.map((m) => m.apt).filter((a) => a !== '?'))];
  const fix = apt.length > 0 ? `fix: sudo apt-get install --no-install-recommends ${apt.join(' ')}` : 'no Debian package known for it';
  return `preflight: missing ${pieces} — ${fix}`;
}

function parseExtra(argv) {
  const extra = { tools: [], elements: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1] ?? '';
    const [name, apt] = value.split('=');
    if (flag === '--require-tool' && name && apt) extra.tools.push({ name, apt, why: 'required on the command line' });
    else if (flag === '--require-element' && name && apt) extra.elements[name] = apt;
    else if (flag !== '--print-apt' && flag !== '--verbose') {
      console.error(`preflight: unknown argument ${flag} (see the comment at the top of test/preflight.mjs)`);
      process.exit(2);
    }
    if (flag.startsWith('--require')) i++;
  }
  return extra;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const extra = parseExtra(argv);
  if (argv.includes('--print-apt')) {
    console.log(aptPackages().join(' '));
  } else {
    const missing = findMissing(extra);
    if (missing.length > 0) {
      console.error(missingLine(missing));
      if (argv.includes('--verbose')) for (const m of missing) console.error(`  ${m.what} (${m.apt}): ${m.why}`);
      process.exit(1);
    }
    console.log(`preflight: ok (${TOOLS.length} programs, ${Object.keys(GST_ELEMENTS).length} GStreamer elements, ffmpeg ${FFMPEG_FEATURES.map((f) => f.name).join('/')})`);
  }
}
