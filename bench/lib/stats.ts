/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  return percentile(values, 50)
}

/** The `p`th percentile (0–100, nearest rank) of `values` (NaN when empty). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  const rank = Math.ceil((p / 100) * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? Number.NaN
}
