import { execFileSync } from 'node:child_process'

/**
 * The number of files (sockets) each bench process may open: the soft `ulimit -n` as a child shell
 * sees it. Node raises its own soft limit to the hard limit at start-up and children inherit that, so
 * this is the hard limit in practice; only raising the hard limit (as root) gives more.
 */
export function fileLimit(): number {
  try {
    const text = execFileSync('/bin/sh', ['-c', 'ulimit -n']).toString().trim()
    return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text)
  } catch {
    return Number.POSITIVE_INFINITY
  }
}
