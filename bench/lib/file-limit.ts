import { execFileSync, spawnSync } from 'node:child_process'

const RAISED = 'BENCH_FILE_LIMIT_RAISED'

function shellLimit(flag: '-Sn' | '-Hn'): number {
  const text = execFileSync('/bin/sh', ['-c', `ulimit ${flag}`]).toString().trim()
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text)
}

/**
 * Makes sure each process may open `needed` files (sockets). When the soft `ulimit -n` is lower and the
 * hard limit allows more, re-runs `script` under a raised limit and exits with its status (never returns).
 * Otherwise returns the limit that holds, which may still be lower than `needed`.
 */
export function ensureFileLimit(needed: number, script: string): number {
  const soft = shellLimit('-Sn')
  if (soft >= needed || process.env[RAISED] === '1') return soft
  const hard = shellLimit('-Hn')
  if (hard <= soft) return soft
  const limit = Math.min(hard, needed)
  console.log(`ulimit -n is ${soft}; re-running with ulimit -n ${limit}`)
  const result = spawnSync(
    '/bin/sh',
    ['-c', `ulimit -Sn ${limit} && exec "$@"`, 'sh', process.execPath, '-r', 'ts-node/register/transpile-only', script],
    { stdio: 'inherit', env: { ...process.env, [RAISED]: '1' } },
  )
  process.exit(result.status ?? 1)
}
