/**
 * `npm run cluster`'s launcher with the documents demo nodes bundled, for launcher.test.ts (which
 * bundles and spawns it in a process group of its own, as a terminal runs a job). Env: NODE_SCRIPT
 * (the bundled demo-node.ts), plus what the launcher reads (PORTS, HOST, REDIS_URL, REDIS_PORT).
 */
import { runCluster } from '../../examples/cluster/main'

runCluster({ nodeScript: process.env.NODE_SCRIPT, execArgv: [] }).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
