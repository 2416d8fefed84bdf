// `npm run bench:storm`: the reconnect storm alone (it also runs at the end of `npm run bench`).
import { Builder } from './lib/build'
import { takeBenchLock } from './lib/lock'
import { runStorm, stormSizes } from './storm/run-storm'

/** Longest wait for another bench run on this machine to finish, ms. */
const LOCK_WAIT_MS = 15 * 60_000

async function main(): Promise<void> {
  const quick = process.env['BENCH_QUICK'] === '1'
  const sizes = stormSizes(quick)
  const release = await takeBenchLock(LOCK_WAIT_MS)
  if (release === undefined) console.log('another bench run is still going: these figures are disturbed by it')
  const builder = new Builder()
  process.on('exit', () => {
    builder.dispose()
    release?.()
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))
  console.log(`node ${process.version}; reconnect storm${quick ? ' (BENCH_QUICK)' : ''}`)
  const started = performance.now()
  const table = await runStorm(builder, sizes)
  console.log(`\n${table}\n\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
