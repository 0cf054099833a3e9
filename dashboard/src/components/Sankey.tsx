// A Sankey diagram of paths: d3-sankey lays out the nodes (one column per
// step) and the links' widths; this draws its layout as SVG, sized to its
// container. The heaviest links are also listed as a table (PathLinks), which
// screen readers and keyboards can read.
import { useEffect, useRef, useState } from "preact/hooks";
import { sankey, sankeyLinkHorizontal, type SankeyLink, type SankeyNode } from "d3-sankey";

export type PathNode = { id: string; step: number; name: string; persons: number };
export type PathLink = { source: string; target: string; persons: number };
type Node = SankeyNode<PathNode, { persons: number }>;
type Link = SankeyLink<PathNode, { persons: number }>;

const COLORS = ["#4f6bed", "#13a37f", "#e0862b", "#c2418f", "#2b9fd8", "#8a63d2", "#7c8b2d", "#d1435b"];

export function Sankey({ nodes, links, height = 360 }: { nodes: PathNode[]; links: PathLink[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const resize = new ResizeObserver(() => setWidth(el.clientWidth));
    resize.observe(el);
    return () => resize.disconnect();
  }, []);

  let drawn: { nodes: Node[]; links: Link[] } | null = null;
  if (width > 0 && links.length > 0) {
    // Only nodes some link touches: a lone node has no width to draw.
    const used = new Set(links.flatMap((l) => [l.source, l.target]));
    const layout = sankey<PathNode, { persons: number }>()
      .nodeId((n) => n.id)
      .nodeWidth(12)
      .nodePadding(14)
      .extent([[1, 8], [width - 1, height - 8]]);
    drawn = layout({
      nodes: nodes.filter((n) => used.has(n.id)).map((n) => ({ ...n })),
      links: links.map((l) => ({ source: l.source, target: l.target, value: l.persons, persons: l.persons })),
    });
  }
  const color = (n: Node) => COLORS[Math.abs(hash(n.name)) % COLORS.length];
  const summary = links.slice(0, 5).map((l) => `${label(l.source)} to ${label(l.target)}: ${l.persons}`).join("; ");
  return (
    <div ref={box} class="sankey" style={{ minHeight: `${height}px` }}>
      {drawn && (
        <svg width={width} height={height} role="img" aria-label={`Paths. ${summary}`} data-testid="sankey">
          <g fill="none">
            {drawn.links.map((l) => (
              <path d={sankeyLinkHorizontal()(l) ?? ""} stroke={color(l.source as Node)} stroke-opacity="0.35" stroke-width={Math.max(1, l.width ?? 1)}>
                <title>{`${(l.source as Node).name} → ${(l.target as Node).name}: ${l.persons} persons`}</title>
              </path>
            ))}
          </g>
          {drawn.nodes.map((n) => {
            const left = (n.x0 ?? 0) < width / 2;
            return (
              <g class="sankey-node">
                <rect x={n.x0} y={n.y0} width={(n.x1 ?? 0) - (n.x0 ?? 0)} height={Math.max(1, (n.y1 ?? 0) - (n.y0 ?? 0))} fill={color(n)}>
                  <title>{`${n.name} (step ${n.step + 1}): ${n.persons} persons`}</title>
                </rect>
                <text x={left ? (n.x1 ?? 0) + 6 : (n.x0 ?? 0) - 6} y={((n.y0 ?? 0) + (n.y1 ?? 0)) / 2} dy="0.35em" text-anchor={left ? "start" : "end"} class="sankey-label">
                  {n.name}
                </text>
              </g>
            );
          })}
        </svg>
      )}
    </div>
  );
}

/** The name part of a node id (`"2:/pricing"` → `/pricing`). */
export function label(id: string): string {
  return id.slice(id.indexOf(":") + 1);
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
}

/** The heaviest links as a table. */
export function PathLinks({ links, limit = 15 }: { links: PathLink[]; limit?: number }) {
  // Steps count from 0 in the API, from 1 for people.
  const stepOf = (id: string) => Number(id.slice(0, id.indexOf(":"))) + 1;
  return (
    <table data-testid="path-links">
      <thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col" class="num">Persons</th></tr></thead>
      <tbody>
        {links.slice(0, limit).map((l) => (
          <tr>
            <td class="path-from"><span class="muted">{stepOf(l.source)}.</span> {label(l.source)}</td>
            <td class="path-to"><span class="muted">{stepOf(l.target)}.</span> {label(l.target)}</td>
            <td class="num path-persons">{l.persons}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
