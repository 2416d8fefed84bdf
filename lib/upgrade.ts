import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { isThenable } from './compose'
import type { Connections } from './connections'
import type { Core } from './core'
import { codeOf, TalkError } from './errors'
import { assertUncompressed } from './frames'
import { readHandshake, rejectUpgrade, type HandshakeHook, type PendingHandshake } from './handshake'
import type { AttachOptions } from './options'
import { PROTOCOL_TOKEN_PREFIX } from './protocol'
import type { Claim } from './resume'
import type { HandshakeGuard } from './security/guard'

/** A server Talk serves upgrades on, and whether Talk made it (`listen()`) and so closes it. */
interface Served {
  server: Server
  owned: boolean
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
}

/**
 * The HTTP upgrade of one app: the guard (limits, Origin), the handshake hooks, the protocol
 * pick, then the socket handed to the connections. Hooks that finish at once cost an upgrade no
 * promise and no deadline.
 */
export class Upgrader {
  private readonly hooks: HandshakeHook[] = []
  private readonly servers: Served[] = []
  private readonly wss: WebSocketServer

  constructor(
    private readonly core: Core,
    private readonly connections: Connections,
    private readonly guard: HandshakeGuard,
    maxPayload: number,
  ) {
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload, clientTracking: false, handleProtocols: pickProtocol })
    assertUncompressed(this.wss)
  }

  /** Adds a hook run on every upgrade request (and bridged HTTP request) before anything else of the app. */
  addHook(hook: HandshakeHook): void {
    this.hooks.push(hook)
  }

  /** The header timeout of `listen()`'s own server: the handshake timeout, or 60 s when that is off. */
  get headersTimeout(): number {
    return this.guard.handshakeTimeout === 0 ? 60_000 : this.guard.handshakeTimeout
  }

  /** Takes the upgrades of a server (on one path, or all of them). */
  serve(server: Server, options: AttachOptions, owned: boolean): void {
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (options.path !== undefined && pathOf(req.url) !== options.path) {
        // Another upgrade handler may own this path; refuse only when we are the only one.
        if (server.listeners('upgrade').length === 1) rejectUpgrade(socket, new TalkError('NOT_FOUND', 'No WebSocket endpoint here'))
        return
      }
      this.upgrade(req, socket, head)
    }
    server.on('upgrade', onUpgrade)
    this.servers.push({ server, owned, onUpgrade })
  }

  /** Closes the servers Talk made; a server Talk was attached to keeps refusing upgrades with 503 until its owner closes it. */
  async closeOwnServers(): Promise<void> {
    await Promise.all(
      this.servers.map(({ server, owned, onUpgrade }) => {
        if (!owned) return undefined
        server.off('upgrade', onUpgrade)
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        // Keep-alive HTTP connections (metrics scrapes, health checks) would hold close() open.
        server.closeIdleConnections()
        return closed
      }),
    )
  }

  /**
   * Gives a server Talk did not create the header timeout `listen()` gives its own: a client that
   * never finishes its request headers (slowloris), or sends nothing at all, gets 408 and is closed
   * after the handshake timeout. Node checks every connection that has not finished its headers each
   * quarter of it, with no timer per socket. Its requestTimeout stays the owner's (Node's default,
   * 300 s, is what listen() uses).
   */
  applyHeaderTimeout(server: Server): void {
    const timeout = this.guard.handshakeTimeout
    if (timeout === 0) return
    if (server.headersTimeout === 0 || server.headersTimeout > timeout) server.headersTimeout = timeout
    // A plain property Node reads when the server starts listening (there is no setter for a running one).
    const checked = server as Server & { connectionsCheckingInterval?: number }
    const interval = checkingInterval(timeout)
    const current = checked.connectionsCheckingInterval ?? 30_000
    if (current <= interval) return
    checked.connectionsCheckingInterval = interval
    if (server.listening) {
      this.core.log.warn(
        { handshakeTimeout: timeout, checkingInterval: current },
        'attach(): the server already listens, so a connection that never finishes its headers is closed up to checkingInterval ms late; attach before listen()',
      )
    }
  }

  /**
   * Reads an HTTP request and runs every handshake hook on it, as for an upgrade. Rejects with the
   * hook's TalkError (or INTERNAL, logged) when one refuses. The REST bridge runs it per request.
   */
  async runHandshake(req: IncomingMessage): Promise<PendingHandshake> {
    return this.runHooks(readHandshake(req), 0)
  }

  /**
   * Runs the hooks from `from` on: synchronously for as long as each returns a plain value, so hooks
   * that do not wait cost an upgrade no promise; from the first that returns a promise, a promise of
   * the handshake. Throws (or rejects) as `runHandshake` rejects.
   */
  private runHooks(handshake: PendingHandshake, from: number): PendingHandshake | Promise<PendingHandshake> {
    const hooks = this.hooks
    for (let i = from; i < hooks.length; i++) {
      let result: unknown
      try {
        result = (hooks[i] as HandshakeHook)(handshake)
      } catch (err) {
        throw this.hookFailed(err)
      }
      if (isThenable(result)) {
        return Promise.resolve(result).then(
          () => this.runHooks(handshake, i + 1),
          (err: unknown) => {
            throw this.hookFailed(err)
          },
        )
      }
    }
    return handshake
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node's HTTP server has taken its 'error' listener off the socket. Until ws puts its own on, in
    // handleUpgrade, an error would throw: the paths that let I/O run first (a refusal being written,
    // hooks that wait) add one; an upgrade that completes in this call needs none.
    if (this.connections.draining) {
      this.refuse(req, socket, new TalkError('UNAVAILABLE', 'Server is shutting down'))
      return
    }
    // Limits and the Origin allow-list first: they cost nothing and run before any app code.
    const refused = this.guard.admit(req, socket)
    if (refused !== undefined) {
      this.refuse(req, socket, refused)
      return
    }
    // Hooks that finish at once run now; with none waiting the socket opens now too, with no
    // deadline to arm and no promise to wait on.
    let started: PendingHandshake | Promise<PendingHandshake>
    try {
      started = this.runHooks(readHandshake(req), 0)
    } catch (err) {
      this.refuse(req, socket, err)
      return
    }
    if (started instanceof Promise) {
      catchErrors(socket)
      void this.upgradeAfterHooks(req, socket, head, started)
    } else {
      this.open(req, socket, head, started)
    }
  }

  /** The rest of an upgrade when a handshake hook waits: under the handshake deadline. */
  private async upgradeAfterHooks(req: IncomingMessage, socket: Duplex, head: Buffer, started: Promise<PendingHandshake>): Promise<void> {
    let handshake: PendingHandshake
    try {
      handshake = await this.guard.deadline(started)
    } catch (err) {
      this.refuse(req, socket, err)
      return
    }
    this.open(req, socket, head, handshake)
  }

  /**
   * Completes the WebSocket upgrade of a request that passed its hooks. A resume token in the query
   * claims its session first (lib/resume/); the claim goes back if the socket is gone.
   */
  private open(req: IncomingMessage, socket: Duplex, head: Buffer, handshake: PendingHandshake): void {
    const claim = this.core.resume.claim(handshake)
    // A session on another node: the upgrade waits for it to move here (or not), then opens.
    if (claim instanceof Promise) void claim.then((moved) => this.accept(req, socket, head, handshake, moved))
    else this.accept(req, socket, head, handshake, claim)
  }

  /** Upgrades the socket with its claim (given back if the socket is gone). */
  private accept(req: IncomingMessage, socket: Duplex, head: Buffer, handshake: PendingHandshake, claim: Claim | undefined): void {
    const resume = this.core.resume
    let accepted = false
    if (socket.destroyed) {
      catchErrors(socket)
    } else {
      // ws's 101 answer, the welcome and whatever 'connection' listeners send leave in one write.
      socket.cork()
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true
        this.connections.accept(ws, handshake, claim)
      })
      socket.uncork()
    }
    if (!accepted) resume.release(claim)
  }

  /** Refuses an upgrade with the error's HTTP status (plus Retry-After when waiting helps), counted and logged at debug. */
  private refuse(req: IncomingMessage, socket: Duplex, err: unknown): void {
    catchErrors(socket)
    const code = codeOf(err)
    this.core.metrics?.handshakeRefused(code)
    // debug, not warn: a flood of refused upgrades must not become a flood of log lines (metrics count them).
    this.core.log.debug({ code, ip: req.socket.remoteAddress, path: pathOf(req.url), origin: req.headers.origin }, 'upgrade refused')
    rejectUpgrade(socket, err, err instanceof TalkError ? this.guard.headersFor(err) : {})
  }

  /** A hook refused: a TalkError is the answer; anything else is logged and reported first (the client gets INTERNAL). */
  private hookFailed(err: unknown): unknown {
    if (!(err instanceof TalkError)) this.core.fault(err, undefined, 'handshake hook failed')
    return err
  }
}

/** How often Node looks for connections past their header timeout: each quarter of it, 50 ms to 30 s. */
export function checkingInterval(headersTimeout: number): number {
  return Math.min(30_000, Math.max(50, headersTimeout / 4))
}

/** A socket error during the upgrade ends the socket (shared by every socket: no closure each). */
function destroyOnError(this: Duplex): void {
  this.destroy()
}

/** Ends the socket on an error from now on (once per socket, whichever path adds it). */
function catchErrors(socket: Duplex): void {
  if (!socket.listeners('error').includes(destroyOnError)) socket.on('error', destroyOnError)
}

/** The path of a request URL, or undefined when it cannot be parsed (`//host:99999`): never throws. */
export function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://talk.invalid').pathname
  } catch {
    return undefined
  }
}

/**
 * Picks the subprotocol to answer with: the first offered that does not carry a token. Never a
 * `bearer.<token>` entry: an offer of nothing else is refused before this (lib/security/guard.ts).
 */
function pickProtocol(protocols: Set<string>): string | false {
  for (const protocol of protocols) {
    if (!protocol.startsWith(PROTOCOL_TOKEN_PREFIX)) return protocol
  }
  return false
}
