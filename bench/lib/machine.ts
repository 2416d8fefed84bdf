import { readFileSync } from 'node:fs'

/** Busy CPU time of the whole machine (all cores, steal included), µs, from /proc/stat; NaN where there is none. */
export function machineBusyMicros(): number {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]?.trim().split(/\s+/).slice(1).map(Number) ?? []
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
    // /proc/stat counts in USER_HZ, which is 100 on every Linux that Node runs on.
    return (user + nice + system + irq + softirq + steal) * 10_000
  } catch {
    return Number.NaN
  }
}

/**
 * Waits, at most `maxMs`, until the machine has been nearly idle (below `percent` of one core) for a
 * quarter second, so a run does not start on top of someone else's work. Resolves with whether it was.
 */
export async function waitForQuiet(maxMs: number, percent = 20): Promise<boolean> {
  if (maxMs <= 0) return true
  const until = performance.now() + maxMs
  do {
    const start = machineBusyMicros()
    await new Promise((resolve) => setTimeout(resolve, 250))
    const busy = (machineBusyMicros() - start) / 2500
    if (!(busy >= percent)) return true
  } while (performance.now() < until)
  return false
}
