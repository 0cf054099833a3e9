// A time series chart drawn by uPlot (canvas; small and fast), sized to its
// container and redrawn when the data or the width change.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export type Series = { label: string; values: number[]; color: string };

export function TrendChart({ times, series, height = 260 }: { times: number[]; series: Series[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const [theme, setTheme] = useState(0);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    // The canvas takes colours, not CSS variables: read the theme's values.
    const css = getComputedStyle(document.documentElement);
    const color = (name: string) => css.getPropertyValue(name).trim();
    const axis = { stroke: color("--muted"), grid: { stroke: color("--grid") }, ticks: { stroke: color("--grid") } };
    const opts: uPlot.Options = {
      width: el.clientWidth,
      height,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{ ...axis, space: 60 }, axis],
      series: [
        {},
        ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: s.color + "22", points: { show: times.length < 60 } })),
      ],
    };
    const chart = new uPlot(opts, [times, ...series.map((s) => s.values)], el);
    const resize = new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height }));
    const scheme = matchMedia("(prefers-color-scheme: dark)");
    const redraw = () => setTheme((n) => n + 1);
    scheme.addEventListener("change", redraw);
    resize.observe(el);
    return () => {
      resize.disconnect();
      scheme.removeEventListener("change", redraw);
      chart.destroy();
    };
  }, [times, series, height, theme]);
  return <div ref={box} class="chart" style={{ minHeight: `${height}px` }} role="img" aria-label={series.map((s) => s.label).join(", ") + " over time"} />;
}
