import type { Measurement } from './ipc'
import { DISTURBED_PERCENT, type MetricSpec, type Scenario } from './scenarios'
import { median } from './stats'
import type { Target } from './targets'

/** Every round's measurement and failure, by scenario and target. */
export class Results {
  private readonly measured = new Map<string, Measurement[]>()
  private readonly failed = new Map<string, string[]>()

  /** Records one round's measurement. */
  add(scenario: Scenario, target: Target, measurement: Measurement): void {
    push(this.measured, key(scenario, target), measurement)
  }

  /** Records a round that produced no measurement, and why. */
  fail(scenario: Scenario, target: Target, reason: string): void {
    push(this.failed, key(scenario, target), reason)
  }

  /** The median of one metric over the rounds of one target (NaN when none ran). */
  median(scenario: Scenario, target: string, metric: string): number {
    const runs = this.measured.get(`${scenario.id}|${target}`) ?? []
    return median(runs.map((run) => run.metrics[metric] ?? Number.NaN).filter((value) => !Number.isNaN(value)))
  }

  /**
   * One scenario as an aligned markdown table: a row per target with the median of each metric over
   * the rounds, the ratio against the target's baseline for metrics that have one, and failed checks.
   */
  table(scenario: Scenario, targets: readonly Target[], rounds: number): string {
    const header = ['target', 'runs']
    for (const metric of scenario.metrics) header.push(metric.key, ...(metric.ratio ? ['× base'] : []))
    header.push('base', 'disturbed', 'failed checks')
    const rows = targets.map((target) => this.row(scenario, target, rounds))
    const notes = targets.flatMap((target) => this.notes(scenario, target))
    return [markdown([header, ...rows]), ...notes].join('\n')
  }

  private row(scenario: Scenario, target: Target, rounds: number): string[] {
    const runs = this.measured.get(key(scenario, target)) ?? []
    const cells = [target.name, `${runs.length}/${rounds}`]
    for (const metric of scenario.metrics) {
      const value = this.median(scenario, target.name, metric.key)
      cells.push(format(value, metric))
      if (!metric.ratio) continue
      const base = target.baseline === undefined ? Number.NaN : this.median(scenario, target.baseline, metric.key)
      cells.push(target.baseline === undefined ? '1.00' : Number.isFinite(value / base) ? (value / base).toFixed(2) : '–')
    }
    const errors = runs.reduce((sum, run) => sum + run.errors, 0)
    const disturbed = runs.filter(isDisturbed).length
    cells.push(target.baseline ?? '(itself)', String(disturbed), errors === 0 ? '0' : `${errors} ⚠`)
    return cells
  }

  private notes(scenario: Scenario, target: Target): string[] {
    const runs = this.measured.get(key(scenario, target)) ?? []
    const samples = [...new Set(runs.flatMap((run) => run.errorSamples))].slice(0, 3)
    const failures = [...new Set(this.failed.get(key(scenario, target)) ?? [])]
    return [
      ...samples.map((sample) => `- ${target.name}: failed check: ${sample}`),
      ...failures.map((reason) => `- ${target.name}: no measurement: ${reason}`),
    ]
  }
}

/** Whether other work used more than DISTURBED_PERCENT of a core during the run's window. */
export function isDisturbed(run: Measurement): boolean {
  return (run.metrics['other cpu %'] ?? 0) > DISTURBED_PERCENT
}

/** One metric value for a table cell; ✗/✓ against the metric's limit when it has one. */
export function format(value: number, metric: MetricSpec): string {
  if (!Number.isFinite(value)) return '–'
  const text = value.toLocaleString('en-US', { minimumFractionDigits: metric.digits, maximumFractionDigits: metric.digits })
  if (metric.limit === undefined) return text
  return `${text} ${Math.abs(value) <= metric.limit ? '✓' : '✗'}`
}

/** Rows (the first is the header) as a markdown table with padded columns. */
export function markdown(rows: readonly string[][]): string {
  const widths = rows[0]?.map((_cell, column) => Math.max(...rows.map((row) => [...(row[column] ?? '')].length))) ?? []
  const line = (row: readonly string[]): string =>
    `| ${row.map((cell, column) => cell + ' '.repeat((widths[column] ?? 0) - [...cell].length)).join(' | ')} |`
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`
  const [head, ...body] = rows
  return [line(head ?? []), rule, ...body.map(line)].join('\n')
}

function key(scenario: Scenario, target: Target): string {
  return `${scenario.id}|${target.name}`
}

function push<T>(map: Map<string, T[]>, at: string, item: T): void {
  const list = map.get(at)
  if (list) list.push(item)
  else map.set(at, [item])
}
