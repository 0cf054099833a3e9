// Date range presets and a custom range, plus the interval switch. The range
// is half-open [from, to) in RFC 3339, as the API takes it.
export type Range = { preset: string; from: string; to: string; interval: "hour" | "day" | "week" };

const PRESETS: [string, string, number, Range["interval"]][] = [
  ["24h", "Last 24 hours", 1, "hour"],
  ["7d", "Last 7 days", 7, "day"],
  ["30d", "Last 30 days", 30, "day"],
  ["90d", "Last 90 days", 90, "week"],
];

export function presetRange(preset: string): Range {
  const [, , days, interval] = PRESETS.find((p) => p[0] === preset) ?? PRESETS[1];
  const to = new Date();
  const from = new Date(to.getTime() - days * 86400_000);
  return { preset, from: from.toISOString(), to: to.toISOString(), interval };
}

/** The range as query fields: a preset stays relative to now (`-30d`), so a
 * saved insight keeps meaning "the last 30 days"; a custom range is absolute. */
export function rangeFields(range: Range): { date_from: string; date_to?: string } {
  if (PRESETS.some((p) => p[0] === range.preset)) return { date_from: `-${range.preset}` };
  return { date_from: range.from, date_to: range.to };
}

export function RangePicker({ range, onChange, intervals = true }: { range: Range; onChange: (r: Range) => void; intervals?: boolean }) {
  const day = (iso: string) => iso.slice(0, 10);
  return (
    <div class="toolbar" role="group" aria-label="Date range">
      {PRESETS.map(([id, label]) => (
        <button class={range.preset === id ? "on" : "ghost"} aria-pressed={range.preset === id} title={label} onClick={() => onChange({ ...presetRange(id), interval: range.preset === id ? range.interval : presetRange(id).interval })}>
          {id}
        </button>
      ))}
      <label class="inline">
        From
        <input type="date" value={day(range.from)} onChange={(e) => onChange({ ...range, preset: "custom", from: new Date((e.target as HTMLInputElement).value).toISOString() })} />
      </label>
      <label class="inline">
        To
        <input type="date" value={day(range.to)} onChange={(e) => onChange({ ...range, preset: "custom", to: new Date(new Date((e.target as HTMLInputElement).value).getTime() + 86400_000).toISOString() })} />
      </label>
      {intervals && <select aria-label="Interval" value={range.interval} onChange={(e) => onChange({ ...range, interval: (e.target as HTMLSelectElement).value as Range["interval"] })}>
        <option value="hour">Hourly</option>
        <option value="day">Daily</option>
        <option value="week">Weekly</option>
      </select>}
    </div>
  );
}
