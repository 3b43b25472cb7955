/**
 * Whether an element can be seen: in (or near) the viewport, not display:none,
 * and its tab in the foreground. A player pauses delivery while it cannot be
 * seen; hiding is debounced so scrolling past does not stop and restart it.
 */

export interface VisibilityGateOptions {
  /** How long the element must stay hidden before it counts as hidden. */
  hideDelayMs?: number;
  /** Margin around the viewport that still counts as visible. */
  rootMargin?: string;
}

export class VisibilityGate {
  /** In view and the tab visible (until the first observation: unknown, so false). */
  visible = false;
  private inView = false;
  private observer: IntersectionObserver | null = null;
  private hideTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly element: Element,
    private readonly onChange: (visible: boolean) => void,
    private readonly options: VisibilityGateOptions = {},
  ) {}

  start(): void {
    if (this.observer) return;
    document.addEventListener('visibilitychange', this.update);
    if (typeof IntersectionObserver !== 'function') {
      this.inView = true; // no way to tell: assume it is seen
      this.update();
      return;
    }
    this.observer = new IntersectionObserver(
      (entries) => {
        const last = entries[entries.length - 1];
        if (!last) return;
        this.inView = last.isIntersecting;
        this.update();
      },
      { rootMargin: this.options.rootMargin ?? '64px' },
    );
    this.observer.observe(this.element);
  }

  stop(): void {
    clearTimeout(this.hideTimer);
    this.observer?.disconnect();
    this.observer = null;
    document.removeEventListener('visibilitychange', this.update);
    this.inView = false;
    this.visible = false;
  }

  private readonly update = (): void => {
    const seen = this.inView && document.visibilityState !== 'hidden';
    if (seen) {
      clearTimeout(this.hideTimer);
      this.hideTimer = undefined;
      this.set(true);
      return;
    }
    if (!this.visible || this.hideTimer !== undefined) return;
    // The tab going to the background hides at once; leaving the viewport after a moment.
    const delay = document.visibilityState === 'hidden' ? 0 : (this.options.hideDelayMs ?? 1000);
    this.hideTimer = setTimeout(() => {
      this.hideTimer = undefined;
      this.set(false);
    }, delay);
  };

  private set(visible: boolean): void {
    if (this.visible === visible) return;
    this.visible = visible;
    this.onChange(visible);
  }
}
