// A bar chart by uPlot (its bars path builder): one bar per labelled value,
// e.g. the persons at each funnel step.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export function BarChart({ labels, values, label, height = 260 }: { labels: string[]; values: number[]; label: string; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const css = getComputedStyle(document.documentElement);
    const color = (name: string) => css.getPropertyValue(name).trim();
    const axis = { stroke: color("--muted"), grid: { stroke: color("--grid") }, ticks: { show: false } };
    const xs = labels.map((_, i) => i);
    // Every label while they fit (about 90 px each), else every n-th.
    const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor(el.clientWidth / 90))));
    const chart = new uPlot(
      {
        width: el.clientWidth,
        height,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
        axes: [
          { ...axis, grid: { show: false }, splits: () => xs, values: (_u, splits) => splits.map((i) => (i % every === 0 ? labels[i] ?? "" : "")) },
          axis,
        ],
        series: [{}, { label, fill: color("--accent"), stroke: color("--accent"), paths: uPlot.paths.bars!({ size: [0.6, 120] }), points: { show: false } }],
      },
      [xs, values],
      el,
    );
    const resize = new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [labels, values, label, height]);
  return <div ref={box} class="chart" style={{ minHeight: `${height}px` }} role="img" aria-label={`${label}: ${labels.map((l, i) => `${l} ${values[i]}`).join(", ")}`} />;
}
