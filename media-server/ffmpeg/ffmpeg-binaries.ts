/**
 * Finds ffmpeg and ffprobe: configured paths first, then the system's, then
 * the binaries shipped inside npm packages (old static builds, with a warning).
 */
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from 'pino';

export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
  /** Where they came from: `config`, `system` or `npm`. */
  origin: 'config' | 'system' | 'npm';
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function fromNpm(pkg: string): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const mod = require(pkg) as { path?: string };
    return mod.path && isExecutable(mod.path) ? mod.path : undefined;
  } catch {
    return undefined;
  }
}

export function findFfmpeg(options: { ffmpegPath?: string; ffprobePath?: string }, log: Logger): FfmpegBinaries {
  if (options.ffmpegPath || options.ffprobePath) {
    const ffmpeg = options.ffmpegPath ?? onPath('ffmpeg');
    const ffprobe = options.ffprobePath ?? onPath('ffprobe');
    if (!ffmpeg || !isExecutable(ffmpeg)) throw new Error(`ffmpeg not found or not executable at ${ffmpeg ?? '(unset)'}`);
    if (!ffprobe || !isExecutable(ffprobe)) throw new Error(`ffprobe not found or not executable at ${ffprobe ?? '(unset)'}`);
    return { ffmpeg, ffprobe, origin: 'config' };
  }
  const systemFfmpeg = onPath('ffmpeg');
  const systemFfprobe = onPath('ffprobe');
  if (systemFfmpeg && systemFfprobe) return { ffmpeg: systemFfmpeg, ffprobe: systemFfprobe, origin: 'system' };
  const npmFfmpeg = fromNpm('@ffmpeg-installer/ffmpeg');
  const npmFfprobe = fromNpm('@ffprobe-installer/ffprobe');
  if (npmFfmpeg && npmFfprobe) {
    log.warn(
      { ffmpeg: npmFfmpeg },
      'No ffmpeg on PATH: using the static build shipped in an npm package. It is old and unmaintained; ' +
        'install a current ffmpeg (e.g. apt-get install ffmpeg) for security fixes and better codecs.',
    );
    return { ffmpeg: npmFfmpeg, ffprobe: npmFfprobe, origin: 'npm' };
  }
  throw new Error('ffmpeg and ffprobe were not found. Install them (e.g. apt-get install ffmpeg) or set MQTTCAST_FFMPEG and MQTTCAST_FFPROBE.');
}
