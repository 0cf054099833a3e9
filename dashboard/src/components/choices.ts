// What a select of names offers. The project's names arrive by a request of
// their own and hold only the most common ones, so a value already chosen
// (from a saved insight, or a rare property) may be missing from them; a
// select whose value has no option shows its first option instead, which
// would misstate the query on screen. Adding the chosen values keeps the
// select true to the query from the first render.

/** `names`, then each chosen value not among them (empty values left out). */
export function withChosen(names: string[], ...chosen: string[]): string[] {
  const missing = [...new Set(chosen.filter((c) => c && !names.includes(c)))];
  return missing.length ? [...names, ...missing] : names;
}
