/**
 * The decoders one player can use — MSE on its <video>, WebCodecs on its
 * <canvas> — and the choice between them: `mse`, `webcodecs` or `auto`, with
 * a fallback (and a notice saying so) where this browser lacks the one asked for.
 */
import type { Logger } from './log.js';
import type { EngineKind, MediaEngine } from './media-sink.js';
import { findMediaSource } from './media-source.js';
import { MseEngine } from './mse-engine.js';
import { WebCodecsEngine, hasWebCodecs } from './webcodecs-engine.js';

export type ModeChoice = EngineKind | 'auto';

export function parseMode(value: string | null): ModeChoice {
  return value === 'mse' || value === 'webcodecs' ? value : 'auto';
}

export interface EngineChoice {
  /** Null when the browser has neither MSE nor WebCodecs. */
  engine: MediaEngine | null;
  /** Why the engine is not the one asked for, or ''. */
  notice: string;
}

export class Engines {
  readonly mse: MseEngine | null;
  readonly webCodecs: WebCodecsEngine | null;
  private readonly mseFallback: MseEngine | null;

  constructor(video: HTMLVideoElement, canvas: HTMLCanvasElement, log: Logger) {
    const impl = findMediaSource();
    this.mse = impl ? new MseEngine(video, impl) : null;
    this.webCodecs = hasWebCodecs() ? new WebCodecsEngine(canvas, log.child('webcodecs')) : null;
    this.mseFallback = impl && !this.webCodecs ? new MseEngine(video, impl, 'MSE (no WebCodecs here)') : null;
  }

  /** `auto`: MSE (half the CPU, the browser's own controls), WebCodecs where there is no MSE. */
  pick(mode: ModeChoice): EngineChoice {
    if (mode === 'webcodecs' && this.webCodecs) return { engine: this.webCodecs, notice: '' };
    if (mode === 'webcodecs' && this.mseFallback) {
      return { engine: this.mseFallback, notice: 'This browser has no WebCodecs (VideoDecoder): playing with MSE instead.' };
    }
    if (this.mse) return { engine: this.mse, notice: '' };
    if (this.webCodecs) {
      return { engine: this.webCodecs, notice: mode === 'mse' ? 'This browser has no Media Source Extensions: playing with WebCodecs instead.' : '' };
    }
    return { engine: null, notice: '' };
  }
}
