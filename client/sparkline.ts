/**
 * A tiny inline-SVG sparkline: one polyline scaled to the values' range.
 */
const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Polyline points for `values` in a width×height box (y grows downwards); '' for
 * fewer than two values. The scale spans the values' range, but at least 20 % of
 * the largest value, so that noise on a steady line stays small.
 */
export function sparklinePoints(values: readonly number[], width: number, height: number, pad = 2): string {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length < 2) return '';
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const span = Math.max(hi - lo, Math.abs(hi) * 0.2, 1e-9);
  const min = lo - (span - (hi - lo)) / 2;
  const step = (width - 2 * pad) / (finite.length - 1);
  return finite
    .map((v, i) => {
      const x = pad + i * step;
      const y = height - pad - ((v - min) / span) * (height - 2 * pad);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

export class Sparkline {
  private readonly line: SVGPolylineElement;

  constructor(
    private readonly svg: SVGSVGElement,
    private readonly width = 120,
    private readonly height = 28,
  ) {
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    this.line = document.createElementNS(SVG_NS, 'polyline');
    this.line.setAttribute('fill', 'none');
    this.line.setAttribute('stroke', 'currentColor');
    this.line.setAttribute('stroke-width', '1.5');
    this.line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.replaceChildren(this.line);
  }

  update(values: readonly number[]): void {
    this.line.setAttribute('points', sparklinePoints(values, this.width, this.height));
  }

  destroy(): void {
    this.svg.replaceChildren();
  }
}
