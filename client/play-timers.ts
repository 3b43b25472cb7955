/**
 * The timers of one play: acks to the server once a second, the player's tick
 * (live edge, stats) a few times a second, and the stall watchdog.
 */
import { StallWatchdog, type StallWatchdogOptions } from './live-edge.js';

export interface PlayTimersOptions extends Pick<StallWatchdogOptions, 'probe' | 'onStall'> {
  onAck: () => void;
  onTick: () => void;
  ackMs?: number;
  tickMs?: number;
}

export class PlayTimers {
  private readonly watchdog: StallWatchdog;
  private ackTimer: ReturnType<typeof setInterval> | undefined;
  private tickTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: PlayTimersOptions) {
    this.watchdog = new StallWatchdog({ probe: options.probe, onStall: options.onStall });
  }

  /** A media message arrived (for the watchdog). */
  dataArrived(): void {
    this.watchdog.dataArrived();
  }

  start(): void {
    this.stop();
    this.watchdog.start();
    this.ackTimer = setInterval(this.options.onAck, this.options.ackMs ?? 1000);
    this.tickTimer = setInterval(this.options.onTick, this.options.tickMs ?? 250);
  }

  /** Stops acks and the stall watchdog; ticks (live edge, stats) go on while buffered media plays out. */
  stopAcks(): void {
    this.watchdog.stop();
    clearInterval(this.ackTimer);
    this.ackTimer = undefined;
  }

  stop(): void {
    this.stopAcks();
    clearInterval(this.tickTimer);
    this.tickTimer = undefined;
  }

  destroy(): void {
    this.stop();
    this.watchdog.destroy();
  }
}
