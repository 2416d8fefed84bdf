import { execFileSync, spawn } from 'node:child_process'
import { connect as tcpConnect } from 'node:net'
import { TestClient } from '../../lib/testing'
import { startCluster, type Cluster } from '../../examples/cluster/main'
import { describeRedis, freePort } from '../helpers/redis-server'
import { buildNodeScript, removeNodeScript } from './nodes'

describeRedis('npm run cluster: the documents demo on two nodes and one Redis', (source) => {
  let cluster: Cluster
  let script: string
  const clients: TestClient[] = []
  const connect = async (url: string, user: string): Promise<TestClient> => {
    const client = await TestClient.connect(url.replace(/^http/, 'ws'), { query: `user=${user}` })
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    script = buildNodeScript('demo-node.ts')
    // The nodes inherit our environment: a prefix of this run's own keeps a shared REDIS_URL clean.
    process.env.TALK_PREFIX = `talk-test-${process.pid}-${Date.now()}:`
    // With a redis-server binary the launcher starts its own Redis, as `npm run cluster` does.
    cluster = await startCluster({
      ports: [0, 0],
      nodeScript: script,
      execArgv: [],
      quiet: true,
      ...(source.kind === 'url' ? { redisUrl: source.url } : { redisPort: await freePort() }),
    })
  })

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await cluster?.stop()
    removeNodeScript(script)
    delete process.env.TALK_PREFIX
  })

  it('passes the seed conversation with client1 on one port and client2 on the other', async () => {
    const [url1, url2] = cluster.urls as [string, string]
    expect(url1).not.toBe(url2)
    const client1 = await connect(url1, 'client1')
    const client2 = await connect(url2, 'client2')

    client1.socket.send(JSON.stringify({ command: 'document:create', id: 'hello-world' }))
    expect(await client1.nextReply()).toEqual({ status: 'success' })

    client2.socket.send(JSON.stringify({ command: 'document:get', id: 'hello-world' }))
    expect(await client2.nextReply()).toEqual({
      status: 'success',
      document: { id: 'hello-world', version: 1, data: {}, nodes: [] },
      'active-users': ['client1', 'client2'],
    })
    expect(await client1.nextPush()).toEqual({ command: 'document:users', document: 'hello-world', joined: ['client2'], left: [] })

    client1.socket.send(JSON.stringify({ command: 'node:create', type: '/type/task', data: { name: 'A new task' } }))
    expect(await client1.nextReply()).toEqual({ status: 'success', node: { id: 2, type: '/type/task', data: { name: 'A new task' } }, version: 2 })
    expect(await client2.nextPush()).toEqual({
      command: 'node:create', document: 'hello-world', version: 2, id: 2, type: '/type/task', data: { name: 'A new task' },
    })

    await client2.close()
    expect(await client1.nextPush()).toEqual({ command: 'document:users', document: 'hello-world', joined: [], left: ['client2'] })
    expect(client1.pendingPushes).toEqual([])
  })

  it('listens on 127.0.0.1 and keeps its Redis in a process group of its own', () => {
    for (const url of cluster.urls) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    if (cluster.redisPid === undefined) return
    const group = (pid: number): number => Number(execFileSync('ps', ['-o', 'pgid=', '-p', String(pid)]).toString().trim())
    expect(group(cluster.redisPid)).toBe(cluster.redisPid)
    expect(group(process.pid)).not.toBe(cluster.redisPid)
  })

  it('stops on a Ctrl-C at the terminal: nodes first, then its Redis, with nothing on stderr', async () => {
    if (source.kind !== 'binary') {
      console.warn('skipping the Ctrl-C test: the launcher must start a Redis of its own')
      return
    }
    const launcher = buildNodeScript('cluster-launcher.ts')
    const redisPort = await freePort()
    // A terminal runs a job in a process group of its own and sends Ctrl-C's SIGINT to all of it.
    const child = spawn(process.execPath, [launcher], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_SCRIPT: script, REDIS_PORT: String(redisPort), REDIS_URL: '', PORTS: '0,0' },
    })
    try {
      let stdout = ''
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString()
          if (stdout.includes('Ctrl-C stops everything')) resolve()
        })
        void exited.then((code) => reject(new Error(`the launcher exited (${String(code)}): ${stderr}`)))
      })
      process.kill(-(child.pid as number), 'SIGINT')
      expect(await exited).toBe(0)
      expect(stderr).toBe('')
      // Its Redis is gone too.
      const refused = await new Promise<boolean>((resolve) => {
        const socket = tcpConnect(redisPort, '127.0.0.1')
        socket.once('connect', () => resolve(false)).once('error', () => resolve(true))
        socket.once('close', () => socket.destroy())
      })
      expect(refused).toBe(true)
    } finally {
      // Should the test fail half-way, the launcher (and so its nodes and Redis) must not outlive it.
      if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), 'SIGTERM')
      removeNodeScript(launcher)
    }
  })
})
