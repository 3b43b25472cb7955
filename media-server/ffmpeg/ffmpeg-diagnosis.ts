/**
 * Turns what ffmpeg/ffprobe wrote on stderr into a reason a person understands.
 * Pure: no I/O. The patterns are ffmpeg 5.1's own messages, captured from real
 * runs (see ffmpeg-diagnosis.test.ts). The reason never contains a URL, a local
 * path or ffmpeg's internal addresses; the raw last line is for logs only.
 */
import type { SourceKind } from '../policy/sources.js';

export interface Diagnosis {
  /** A sentence for the viewer; undefined when stderr says nothing useful. */
  reason?: string;
  /** The input was cut off (network or read error), so an exit code of 0 is not a clean end. */
  interrupted: boolean;
  /** A known failure was recognised (not just the last line repeated). */
  known: boolean;
  /** The last meaningful stderr line as ffmpeg wrote it, for logs only (may hold URLs and paths). */
  lastLine: string;
}

export interface DiagnosisContext {
  kind?: SourceKind;
  /** No fragment came out of this source yet. */
  beforeMedia?: boolean;
}

export const FASTSTART_ADVICE =
  "the MP4's index (moov) is at the end of the file and the server does not support HTTP Range requests; " +
  're-encode with `ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4` or serve it from a server with Range support';

interface Rule {
  /** Tested against the whole stderr text (all lines). */
  test: RegExp;
  /** Only when the context also says so. */
  when?: (ctx: DiagnosisContext) => boolean;
  reason: (m: RegExpExecArray, ctx: DiagnosisContext) => string;
  interrupted?: boolean;
}

/** Most specific first: ffmpeg often ends with a generic line ("Input/output error") after the telling one. */
const RULES: Rule[] = [
  // mov demuxer could not seek back to the media (moov read at the end of a stream without Range).
  { test: /partial file[\s\S]*Stream ends prematurely|Stream ends prematurely[\s\S]*partial file/, reason: () => FASTSTART_ADVICE, interrupted: true },
  // Through the egress proxy a keep-alive origin makes ffmpeg wait (6 s with Node's server) before the
  // rest; stopped before then, only "partial file" is left. No media at all over HTTP means the same.
  { test: /partial file/, when: (ctx) => ctx.kind === 'http' && ctx.beforeMedia === true, reason: () => FASTSTART_ADVICE, interrupted: true },
  { test: /Protocol '([\w-]+)' not on whitelist/, reason: (m) => `the source refers to a ${m[1]}: address, which this server does not open for this kind of source` },
  {
    test: /method (\w+) failed: 454\b/,
    reason: (m) => `the RTSP server answered 454 Session Not Found to ${m[1]}: it dropped the session (it may have restarted or reached its client limit); try again`,
  },
  { test: /method DESCRIBE failed: 404\b/, reason: () => 'the RTSP server has no stream at this path (404 Not Found)' },
  {
    test: /method (\w+) failed: 401\b/,
    reason: () => 'the RTSP server requires a user name and password (401 Unauthorized); give them in the URL as rtsp://user:password@host/path',
  },
  { test: /method (\w+) failed: (\d{3}) ([^\n]{0,60})/, reason: (m) => `the RTSP server refused ${m[1]} with ${m[2]} ${m[3]!.trim()}` },
  { test: /Server returned 404 Not Found/, reason: () => 'the server has nothing at this address (404 Not Found)' },
  { test: /Server returned 403 Forbidden/, reason: () => 'the server refused access (403 Forbidden)' },
  { test: /Server returned 401 Unauthorized/, reason: () => 'the server requires authentication (401 Unauthorized)' },
  {
    test: /Server returned 5XX/,
    reason: () => "the server failed with an HTTP 5xx error (through this media server's proxy this also means the server could not be reached)",
  },
  { test: /Server returned 4XX/, reason: () => 'the server refused the request (HTTP 4xx error)' },
  { test: /Failed to resolve hostname/, reason: () => "the server's host name could not be resolved (DNS lookup failed)" },
  { test: /Connection refused/, reason: () => 'the server refused the connection: nothing is listening at that address and port' },
  { test: /Connection timed out/, reason: () => 'the server did not answer in time (connection timed out)', interrupted: true },
  { test: /Connection reset by peer/, reason: () => 'the server closed the connection unexpectedly (connection reset)', interrupted: true },
  { test: /Stream ends prematurely/, reason: () => 'the server closed the connection before the end of the data', interrupted: true },
  { test: /Error when loading first segment/, reason: () => 'the first segment listed in the HLS playlist could not be loaded' },
  {
    test: /moov atom not found/,
    reason: () => 'the file is not a complete MP4: its index (moov) is missing (the file may be cut short, still being written, or not an MP4)',
  },
  { test: /Could not find tag for codec (\w+)/, reason: (m) => `the source's ${m[1]} codec cannot be carried in MP4 as it is` },
  {
    test: /Decoder \(codec (\w+)\) not found/,
    reason: (m) => (m[1] === 'none' ? 'the source uses a codec ffmpeg does not know' : `ffmpeg has no decoder for the source's ${m[1]} codec`),
  },
  {
    test: /Invalid data found when processing input/,
    reason: (_m, ctx) =>
      ctx.kind === 'rtsp'
        ? 'the RTSP server gave no valid answer (it did not answer in time, or it is not an RTSP server)'
        : 'the source is not audio or video that ffmpeg can read (invalid data)',
  },
  { test: /No such file or directory/, reason: () => 'the file does not exist' },
  { test: /malloc of size \d+ failed/, reason: () => 'ffmpeg ran out of memory (the memory limit per ffmpeg was reached)' },
  { test: /^could not start \S+: /m, reason: () => 'ffmpeg could not be started on the server' },
  { test: /error while loading shared libraries/, reason: () => 'ffmpeg could not start on the server (it could not load its libraries)' },
  { test: /partial file/, reason: () => 'the file is cut short: its index lists media past the end of the data', interrupted: true },
  { test: /Input\/output error/, reason: () => 'reading the source failed (input/output error)', interrupted: true },
];

/** Lines ffmpeg prints that say nothing about the failure. */
const NOISE = /^(Last message repeated \d+ times?|Conversion failed!|Exiting normally.*)$/;

function meaningfulLines(stderr: string): string[] {
  return stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !NOISE.test(l));
}

/** A line made safe for a viewer: no `[mov @ 0x…]` prefixes, URLs or absolute paths. */
export function cleanLine(line: string): string {
  return line
    .replace(/\[[^\]]*@ 0x[0-9a-f]+\]\s*/gi, '')
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, 'the source')
    .replace(/\bfile:\S+/gi, 'the source')
    .replace(/(^|[\s'"(])\/[^\s'"]+/g, '$1a file')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

export function diagnose(stderr: string, context: DiagnosisContext = {}): Diagnosis {
  const lines = meaningfulLines(stderr);
  const lastLine = (lines[lines.length - 1] ?? '').slice(0, 300);
  const text = lines.join('\n');
  for (const rule of RULES) {
    const m = rule.test.exec(text);
    if (m && (rule.when?.(context) ?? true)) return { reason: rule.reason(m, context), interrupted: rule.interrupted ?? false, known: true, lastLine };
  }
  const cleaned = cleanLine(lastLine);
  return { reason: cleaned ? `ffmpeg reported: ${cleaned}` : undefined, interrupted: false, known: false, lastLine };
}
