import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hasExited, stopChild } from './child.js';

export interface RtspServerOptions {
  /** Mount path (default '/test'). */
  path?: string;
  /** H.264 profile of the video track (default 'baseline'). */
  profile?: 'baseline' | 'high';
  /** Include an AAC-LC track (default true). */
  audio?: boolean;
  width?: number;
  height?: number;
  fps?: number;
  /** RTSP port; default 0 (the kernel picks one, the script reports it). */
  port?: number;
  /** Elements to require on top of the pipeline's own (tests of the missing-element path). */
  alsoElements?: string[];
  /** How long to wait for the READY line (default 20 000 ms). */
  startTimeoutMs?: number;
}

export interface RtspServer {
  /** `rtsp://127.0.0.1:<port><path>` */
  url: string;
  port: number;
  pid: number;
  /** stderr of the Python/GStreamer process so far. */
  stderr(): string;
  close(): Promise<void>;
}

const PYTHON = '/usr/bin/python3'; // the system interpreter has python3-gi; pyenv's does not
const SCRIPT = fileURLToPath(new URL('./rtsp-server.py', import.meta.url));
const MAX_LOG = 256 * 1024;

/**
 * Starts a live GStreamer RTSP test source (videotestsrc ball + x264, audiotestsrc sine
 * + AAC) on 127.0.0.1, serving RTP over TCP (interleaved) and UDP.
 */
export async function startRtspServer(opts: RtspServerOptions = {}): Promise<RtspServer> {
  const path = opts.path ?? '/test';
  const mount = path.startsWith('/') ? path : `/${path}`;
  const args = [
    SCRIPT,
    '--port', String(opts.port ?? 0),
    '--path', mount,
    '--profile', opts.profile ?? 'baseline',
    '--audio', opts.audio === false ? '0' : '1',
    '--width', String(opts.width ?? 320),
    '--height', String(opts.height ?? 240),
    '--fps', String(opts.fps ?? 25),
    ...(opts.alsoElements ?? []).flatMap((e) => ['--also-element', e]),
  ];
  // stdin stays open as a lifeline: the script exits when it reaches EOF (our death).
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-MAX_LOG);
  });
  child.stdin?.on('error', () => undefined);

  let port: number;
  try {
    port = await waitForReady(child, opts.startTimeoutMs ?? 20_000, () => stderr);
  } catch (err) {
    await stopChild(child, { graceMs: 1000 });
    throw err;
  }
  const pid = child.pid as number;
  let closed: Promise<void> | undefined;
  return {
    url: `rtsp://127.0.0.1:${port}${mount}`,
    port,
    pid,
    stderr: () => stderr,
    close(): Promise<void> {
      closed ??= stopChild(child, { signal: 'SIGTERM', graceMs: 3000 });
      return closed;
    },
  };
}

function waitForReady(child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const fail = (why: string): void => {
      cleanup();
      reject(new Error(`RTSP test server ${why}; stderr:\n${stderr().trim()}`));
    };
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const m = /^READY (\d+)$/m.exec(buffered);
      if (m) {
        cleanup();
        child.stdout?.resume(); // keep draining so the pipe never fills
        resolve(Number(m[1]));
      } else if (/^ERROR /m.test(buffered)) {
        fail(`failed: ${buffered.trim()}`);
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      fail(`exited before READY (code ${String(code)}, signal ${String(signal)})`);
    const onError = (err: Error): void => fail(`could not start ${PYTHON}: ${err.message}`);
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
    if (hasExited(child)) fail('exited before READY');
  });
}
