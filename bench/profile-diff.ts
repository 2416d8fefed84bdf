// Compares two sets of CPU profiles (BENCH_PROFILE_DIR) function by function, per operation:
//
//   npm run bench:profile-diff -- /tmp/prof/S4/raw-ws 133 /tmp/prof/S4/talk 154 [rows]
//
// Each directory's *.cpuprofile files are summed; a function's self time, as a share of the
// process's busy (non-idle) time, is scaled by the µs per operation the bench reported for that
// target, so the columns read as µs per operation. Start-up (module loading) is in the profiles too:
// it shows as a few µs of wrapSafe/compile rows that are not part of the measured window.
import { readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[]
  samples: number[]
  timeDeltas: number[]
}

/** Self time per function in µs per operation, over every profile in `dir`. */
function selfTimePerOperation(dir: string, microsPerOperation: number): Map<string, number> {
  const self = new Map<string, number>()
  let busy = 0
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile
    const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
    profile.samples.forEach((id, i) => {
      const frame = frames.get(id)
      const micros = profile.timeDeltas[i] ?? 0
      if (frame === undefined || frame.functionName === '(idle)') return
      busy += micros
      const where = frame.url.replace(/.*node_modules\//, '').replace(/^file:\/\/\/.*\//, '')
      const key = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`
      self.set(key, (self.get(key) ?? 0) + micros)
    })
  }
  if (busy === 0) throw new Error(`no samples in ${dir}`)
  for (const [key, micros] of self) self.set(key, (micros / busy) * microsPerOperation)
  return self
}

function main(): void {
  const [dirA, opA, dirB, opB, rows = '40'] = process.argv.slice(2)
  if (dirA === undefined || dirB === undefined || !(Number(opA) > 0) || !(Number(opB) > 0)) {
    console.error('usage: profile-diff <dir A> <µs per op A> <dir B> <µs per op B> [rows]')
    process.exit(2)
  }
  const a = selfTimePerOperation(dirA, Number(opA))
  const b = selfTimePerOperation(dirB, Number(opB))
  const keys = [...new Set([...a.keys(), ...b.keys()])]
  const diffs = keys.map((key) => ({ key, a: a.get(key) ?? 0, b: b.get(key) ?? 0 }))
  diffs.sort((x, y) => Math.abs(y.b - y.a) - Math.abs(x.b - x.a))
  console.log(`${'A µs'.padStart(8)} ${'B µs'.padStart(8)} ${'B − A'.padStart(8)}  function (self time per operation)`)
  for (const { key, a: inA, b: inB } of diffs.slice(0, Number(rows))) {
    const delta = inB - inA
    console.log(`${inA.toFixed(2).padStart(8)} ${inB.toFixed(2).padStart(8)} ${(delta >= 0 ? '+' : '') + delta.toFixed(2).padStart(7)}  ${key}`)
  }
}

main()
