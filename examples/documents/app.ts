import type { Logger } from 'pino'
import {
  EncodedReply, loadState, logger, memoryStore, talk, TalkError, userKey,
  type Adapter, type Client, type HandshakeMiddleware, type PreparedPush, type RoomTarget, type Store, type TalkApp,
} from 'talk'
import { addNode, deleteNode, documentKey, newDoc, updateData, updateNode, wireDoc, type Changed, type Doc } from './model'
import { routes } from './schemas'
import { keyedSerial } from './serial'
import { displayName, nameFromQuery } from './users'

/** Options of `documentsApp()`. */
export interface DocumentsOptions {
  /** Where documents live (default: in memory). Several nodes share one store (Redis) to share documents. */
  store?: Store<Doc>
  /** Carries pushes and presence between nodes (default: in memory, one node). */
  adapter?: Adapter
  /** Logger for the app (default: pino at `LOG_LEVEL` or info). */
  logger?: Logger
  /** Most documents the store may hold; `document:create` past it answers PAYLOAD_TOO_LARGE (default 1000). */
  maxDocuments?: number
  /**
   * Most documents one user may have created and not deleted; `document:create` past it answers
   * FORBIDDEN (default 20). A user is the verified user with `auth`, else the `?user=` name (a
   * claim: without `auth` a script can take new names, and only `maxDocuments` bounds it).
   */
  maxDocumentsPerUser?: number
  /**
   * Authentication put in front of everything, e.g. `auth({ verify: jwt({ secret }), from: 'query' })`.
   * Without it a connection names itself with `?user=` (a display name, not authentication); with
   * it, active users show the verified user's `name` (or `sub`).
   */
  auth?: HandshakeMiddleware
}

/** The reply of `document:get`. */
interface GetReply {
  document: Doc
  'active-users': string[]
}

/** What a route needs of its context to open documents and announce changes. */
interface Speaker {
  readonly client: Client
  to(room: string): RoomTarget
  join(room: string): void
  leave(room: string): void
  reply(payload?: object): boolean
}

/**
 * The collaborative documents app of the seed conversation (DESIGN.md §2): documents of tasks,
 * shared live between everyone who has one open.
 *
 * Every change to a document runs in that document's critical section (one at a time per
 * document on this node): the store update, the push to the others, and the reply, with no
 * await between push and reply. `document:get` reads its snapshot, joins the room and replies
 * in the same critical section. So each client sees the versions of a document — in pushes and
 * in its own replies — as v+1, v+2, … after a get at v: no gap, no duplicate, in order. Across nodes
 * pushes and replies keep that order when the store publishes the pushes with its writes (the Redis
 * store with the Redis adapter, docs/scaling.md), but a push the get already counted may still
 * follow it, and pushes are lost while Redis is away: clients check the version.
 *
 * @example
 * const app = documentsApp()
 * await app.listen(3000)
 */
export function documentsApp(options: DocumentsOptions = {}): TalkApp {
  const store = options.store ?? memoryStore<Doc>()
  const maxDocuments = options.maxDocuments ?? 1000
  if (!Number.isInteger(maxDocuments) || maxDocuments < 1) throw new TypeError('documentsApp(): maxDocuments must be a positive integer')
  const maxPerUser = options.maxDocumentsPerUser ?? 20
  if (!Number.isInteger(maxPerUser) || maxPerUser < 1) throw new TypeError('documentsApp(): maxDocumentsPerUser must be a positive integer')
  // resume: a page whose connection drops comes back with its id, its room and every push it missed.
  const app = talk({ logger: options.logger, adapter: options.adapter, resume: true })
  const serial = keyedSerial()

  if (options.auth !== undefined) app.use(options.auth)
  app.handshake(nameFromQuery())
  app.use(logger())
  // The current document, loaded before node:* handlers run; they change it in its critical section.
  const currentDocument = loadState<Doc>({
    key: 'document',
    id: (ctx) => (typeof ctx.state.document === 'string' ? ctx.state.document : undefined),
    load: (_ctx, id) => store.get(documentKey(id)),
    missing: 'No document is open: send document:create or document:get first',
    notFound: (id) => `No document ${id}`,
  })

  /** The display name of every member of a room, once per connection. */
  async function memberNames(room: string): Promise<string[]> {
    const members = await app.presence(room)
    return members.map((m) => displayName(m.user, m.id))
  }

  /** The names of the users who have a document open, each once, sorted. */
  function activeUsers(names: readonly string[]): string[] {
    return [...new Set(names)].sort()
  }

  // Presence pushes are deltas: `document:users { document, joined, left }` names the users who
  // appeared or went, so a change costs one small frame per member, not the whole list (the full
  // list is only in document:get's reply). This node counts its own joins and leaves (and `lost`
  // members of crashed nodes) per room and name until they are announced: by the next get of that
  // room, inside its critical section and right after it reads presence, or once per turn for the
  // rest. A page that applies the deltas to the list its get returned stays right.
  const pending = new Map<string, Map<string, { joins: number; leaves: number }>>()

  /** Counts a join or leave of `name` in a room, to be announced. */
  function note(room: string, name: string, kind: 'joins' | 'leaves'): void {
    if (!room.startsWith('document/')) return
    let names = pending.get(room)
    if (names === undefined) {
      pending.set(room, (names = new Map()))
      // A burst of joins and leaves within one turn (a crowd arriving, a node's sockets closing) is one push.
      setImmediate(() => {
        serial(room, async () => {
          const batch = take(room)
          if (batch !== undefined) announce(room, batch, await memberNames(room), undefined)
        }).catch((err: unknown) => app.log.error({ err, room }, 'announcing active users failed'))
      })
    }
    const counts = names.get(name) ?? { joins: 0, leaves: 0 }
    counts[kind]++
    names.set(name, counts)
  }

  /** Takes a room's uncounted joins and leaves, before presence is read: any later one makes a new batch. */
  function take(room: string): Map<string, { joins: number; leaves: number }> | undefined {
    const batch = pending.get(room)
    pending.delete(room)
    return batch
  }

  /**
   * Pushes which of a batch's names appeared (listed now, not before its joins) or went (no longer
   * listed) to the room, the sender excluded when there is one.
   */
  function announce(room: string, batch: Map<string, { joins: number; leaves: number }>, names: readonly string[], sender: Speaker | undefined): void {
    const listed = new Map<string, number>()
    for (const name of names) if (batch.has(name)) listed.set(name, (listed.get(name) ?? 0) + 1)
    const joined: string[] = []
    const left: string[] = []
    for (const [name, { joins, leaves }] of batch) {
      const now = listed.get(name) ?? 0
      if (now === 0) {
        if (leaves > 0) left.push(name)
      } else if (joins > 0 && now - joins + leaves <= 0) {
        joined.push(name)
      }
    }
    if (joined.length === 0 && left.length === 0) return
    const push = { document: room.slice('document/'.length), joined: joined.sort(), left: left.sort() }
    if (sender === undefined) app.to(room).send('document:users', push)
    else sender.to(room).send('document:users', push)
  }
  app.on('join', (client, room) => note(room, displayName(client.user, client.id), 'joins'))
  app.on('leave', (client, room) => note(room, displayName(client.user, client.id), 'leaves'))
  app.on('lost', (room, member) => note(room, displayName(member.user, member.id), 'leaves'))

  /** Makes `id` the client's current document: leaves the previous room, joins this one, tells the others. */
  async function open(ctx: Speaker & { state: Record<string, unknown> }, id: string): Promise<string[]> {
    const room = documentKey(id)
    const previous = ctx.state.document
    if (typeof previous === 'string' && previous !== id) ctx.leave(documentKey(previous))
    ctx.state.document = id
    ctx.join(room)
    // The read below sees every join and leave counted so far (this one too): they are announced now,
    // so what this client is told and what the others hear next fit together.
    const batch = take(room)
    const names = await memberNames(room)
    if (batch !== undefined) announce(room, batch, names, ctx)
    return activeUsers(names)
  }

  /**
   * Changes document `id` in its critical section: store, push `name` to the others, reply. The
   * push carries `{ document, version, ...push }`, the reply `{ ...reply, version }`. A store that
   * can (Redis) publishes the push with its write, so every node delivers a document's pushes in
   * version order, and the reply goes out right when this node delivers that push.
   */
  function change<R>(
    ctx: Speaker,
    id: string,
    step: (doc: Doc) => Changed<R>,
    name: string,
    announce: (result: R) => { push: object; reply: object },
  ): Promise<void> {
    const room = documentKey(id)
    return serial(room, async () => {
      let outcome: Changed<R> | TalkError | undefined
      let prepared: PreparedPush | undefined
      await store.update(room, (current) => {
        prepared = undefined
        if (current === undefined) {
          outcome = new TalkError('NOT_FOUND', `No document ${id}`)
          return undefined
        }
        try {
          outcome = step(current)
        } catch (err) {
          if (!(err instanceof TalkError)) throw err
          outcome = err
          return undefined
        }
        return outcome.doc
      }, {
        publish: (doc) => {
          if (outcome === undefined || outcome instanceof TalkError) return undefined
          const { push, reply } = announce(outcome.result)
          const version = doc.version
          prepared = ctx.to(room).prepare(name, { document: id, version, ...push }, { after: () => ctx.reply({ ...reply, version }) })
          return prepared.publication
        },
      })
      if (outcome === undefined) throw new Error('store.update() did not call its change function')
      if (outcome instanceof TalkError) throw outcome
      if (prepared !== undefined) return prepared.published()
      const version = outcome.doc.version
      const { push, reply } = announce(outcome.result)
      ctx.to(room).send(name, { document: id, version, ...push })
      ctx.reply({ ...reply, version })
    })
  }

  /** Who a request comes from, as documents record their creator. */
  const creatorOf = (client: Client): string => userKey(client.user) ?? client.id

  app.route('document/create', routes['document/create'], async (ctx) => {
    const id = ctx.body.id
    const room = documentKey(id)
    const creator = creatorOf(ctx.client)
    // One user's creates one at a time, so parallel requests cannot all pass the quota at once.
    await serial(`creator/${creator}`, () => serial(room, async () => {
      const keys = await store.keys('document/')
      if (keys.length >= maxDocuments) {
        throw new TalkError('PAYLOAD_TOO_LARGE', `This server holds at most ${maxDocuments} documents`)
      }
      const docs = await Promise.all(keys.map((key) => store.get(key)))
      if (docs.filter((doc) => doc?.creator === creator).length >= maxPerUser) {
        throw new TalkError('FORBIDDEN', `You have created ${maxPerUser} documents, the most one user may: delete one first`)
      }
      let created = false
      await store.update(room, (current) => {
        created = current === undefined
        return created ? newDoc(id, creator) : undefined
      })
      if (!created) throw new TalkError('CONFLICT', `Document ${id} exists`)
      await open(ctx, id)
      ctx.reply()
    }))
  })

  // Only its creator may delete a document (anyone, one stored before creators were recorded).
  // The others in its room are told; they stay in the room until they open another document.
  app.route('document/delete', routes['document/delete'], async (ctx) => {
    const id = ctx.body.id
    const room = documentKey(id)
    await serial(room, async () => {
      const doc = await store.get(room)
      if (doc === undefined) throw new TalkError('NOT_FOUND', `No document ${id}`)
      if (doc.creator !== undefined && doc.creator !== creatorOf(ctx.client)) {
        throw new TalkError('FORBIDDEN', `Only the user who created document ${id} may delete it`)
      }
      await store.delete(room)
      ctx.to(room).send('document:deleted', { document: id })
      if (ctx.state.document === id) {
        ctx.leave(room)
        delete ctx.state.document
      }
      ctx.reply()
    })
  })

  /**
   * A get's reply, encoded once per document version and list of active users: a big document is
   * read by many gets between two changes, and encoding it (and checking it against the reply
   * schema) is most of a get's cost (docs/performance.md, "Fairness"). Kept beside the stored
   * document, so it goes when that version does; a store that returns a new copy on each read
   * (Redis) simply never finds it.
   */
  const getReplies = new WeakMap<Doc, { users: string; reply: EncodedReply<GetReply> }>()
  function getReply(document: Doc, users: string[]): EncodedReply<GetReply> {
    const key = users.join('\n')
    const kept = getReplies.get(document)
    if (kept !== undefined && kept.users === key) return kept.reply
    const reply = new EncodedReply<GetReply>({ document: wireDoc(document), 'active-users': users })
    getReplies.set(document, { users: key, reply })
    return reply
  }

  app.route('document/get', routes['document/get'], async (ctx) => {
    const id = ctx.body.id
    await serial(documentKey(id), async () => {
      const document = await store.get(documentKey(id))
      if (document === undefined) throw new TalkError('NOT_FOUND', `No document ${id}`)
      const users = await open(ctx, id)
      ctx.reply(getReply(document, users))
    })
  })

  app.route('document/update', routes['document/update'], (ctx) =>
    change(ctx, ctx.body.id, (doc) => updateData(doc, ctx.body.data), 'document:update', (result) => ({ push: result, reply: result })),
  )

  app.route('document/leave', routes['document/leave'], (ctx) => {
    const id = ctx.state.document
    if (typeof id === 'string') ctx.leave(documentKey(id))
    delete ctx.state.document
  })

  app.route('document/list', routes['document/list'], async () => {
    const keys = await store.keys('document/')
    const docs = await Promise.all(keys.map((key) => store.get(key)))
    const documents = docs
      .filter((doc): doc is Doc => doc !== undefined)
      .map((doc) => ({ id: doc.id, version: doc.version, nodes: doc.nodes.length }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    return { documents }
  })

  app.route('node/create', routes['node/create'], currentDocument, (ctx) =>
    change(ctx, currentDocument.get(ctx).id, (doc) => addNode(doc, ctx.body.type, ctx.body.data), 'node:create', (node) => ({
      push: node,
      reply: { node },
    })),
  )

  app.route('node/update', routes['node/update'], currentDocument, (ctx) =>
    change(ctx, currentDocument.get(ctx).id, (doc) => updateNode(doc, ctx.body.id, ctx.body.data), 'node:update', (node) => ({
      push: node,
      reply: { node },
    })),
  )

  app.route('node/delete', routes['node/delete'], currentDocument, (ctx) =>
    change(ctx, currentDocument.get(ctx).id, (doc) => deleteNode(doc, ctx.body.id), 'node:delete', (result) => ({
      push: result,
      reply: result,
    })),
  )

  return app
}
