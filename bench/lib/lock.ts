import { openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const LOCK = path.join(os.tmpdir(), 'talk-bench.lock')

/**
 * Waits (at most `maxMs`) until no other bench run holds the machine-wide lock, then takes it: two runs
 * at once on two cores measure each other. Resolves with a release function, or undefined when it
 * gave up waiting (the run goes ahead, and says so).
 */
export async function takeBenchLock(maxMs: number): Promise<(() => void) | undefined> {
  const until = performance.now() + maxMs
  let told = false
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => rmSync(LOCK, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = Number(readText(LOCK))
    if (!isAlive(holder)) {
      rmSync(LOCK, { force: true })
      continue
    }
    if (performance.now() > until) return undefined
    if (!told) console.log(`another bench run (pid ${holder}) is in progress; waiting for it to finish`)
    told = true
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return ''
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
