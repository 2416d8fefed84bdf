// The documents demo page: plain JS on Talk's browser client, no build step.
// Every change is a request; everyone else hears it as a push carrying the version it produced.
import { connect } from '/talk-client.js'

const $ = (id) => document.getElementById(id)
const NAME_KEY = 'talk-demo-name'
/** The server's rule for display names (examples/documents/users.ts): 1–32 printable characters. */
const MAX_NAME = 32

/** The open document `{ id, version, data, nodes }`, or null in the lobby. */
let doc = null
/** Who has it open (display names). */
let users = []
let me = ''
let client = null
let refetching = null

// ---- start ------------------------------------------------------------------------------

const params = new URLSearchParams(location.search)
me = (params.get('user') ?? localStorage.getItem(NAME_KEY) ?? '').trim()
const problem = nameProblem(me)
if (me === '' || problem !== undefined) askName(problem)
else start()

/** Why the server would refuse a display name, or undefined when it is fine. */
function nameProblem(name) {
  if (name.length > MAX_NAME) return `Names are at most ${MAX_NAME} characters: "${name.slice(0, MAX_NAME)}…" is ${name.length}.`
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'Names cannot hold control characters.'
  return undefined
}

/** Shows the name form (with why the current name did not do, if it did not), before connecting or to change names. */
function askName(why) {
  $('name-form').hidden = false
  $('name-problem').hidden = why === undefined
  $('name-problem').textContent = why ?? ''
  $('name-input').value = me.slice(0, MAX_NAME)
  if (client === null) setStatus('offline', 'not connected')
  $('name-input').focus()
}

$('name-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const name = $('name-input').value.trim()
  const why = name === '' ? 'Type a name.' : nameProblem(name)
  if (why !== undefined) return askName(why)
  localStorage.setItem(NAME_KEY, name)
  if (client !== null) {
    // The name is given when connecting: a new name is a new connection, made by reloading without ?user=.
    params.delete('user')
    location.search = params.toString()
    return
  }
  me = name
  $('name-form').hidden = true
  start()
})

$('change-name').addEventListener('click', () => askName())

// The browser knows first when the network is gone; the client counts the connection lost at once.
addEventListener('offline', () => setStatus('offline', 'offline: waiting for the network…'))
addEventListener('online', () => setStatus('reconnecting', 'back online: reconnecting…'))

async function start() {
  setStatus('connecting', 'connecting…')
  try {
    // A relative URL: the page's own server, ws: or wss: to match. The client reconnects by itself.
    client = await connect(`/?user=${encodeURIComponent(me)}`, {
      // Runs after every reconnection. A resumed session got every push it missed; a new one
      // (the server restarted, or was away too long) loads the open document again.
      onReconnect: (info) => (info.resumed ? undefined : refetch()),
    })
  } catch (err) {
    client = null
    setStatus('offline', 'offline')
    showError(`Cannot connect: ${err.message}. Check your name below, or try again.`)
    askName()
    return
  }
  listen(client)
  $('change-name').hidden = false
  $('me').textContent = me
  setStatus('live', 'live')
  await route()
}

function listen(c) {
  c.on('node:create', (frame) => applyPush(frame, () => doc.nodes.push(nodeOf(frame))))
  c.on('node:update', (frame) => applyPush(frame, () => replaceNode(nodeOf(frame))))
  c.on('node:delete', (frame) => applyPush(frame, () => removeNode(frame.id)))
  c.on('document:update', (frame) => applyPush(frame, () => (doc.data = frame.data)))
  c.on('document:deleted', (frame) => {
    if (doc === null || frame.document !== doc.id) return
    showError(`${doc.id} was deleted by its creator`)
    doc = null
    location.hash = ''
    // Out of its room, so a document made again under the name is not mistaken for this one.
    void client.request('document:leave', {}).catch(() => {})
  })
  c.on('document:users', (frame) => {
    if (doc === null || frame.document !== doc.id) return
    // A delta on the list the last document:get returned: names that appeared, names that went.
    const names = new Set(users)
    for (const name of frame.left) names.delete(name)
    for (const name of frame.joined) names.add(name)
    users = [...names].sort()
    renderUsers()
  })
  c.on('close', (info) => {
    if (info.willReconnect && !navigator.onLine) setStatus('offline', 'offline: waiting for the network…')
    else if (info.willReconnect) setStatus('reconnecting', 'connection lost: reconnecting…')
    else setStatus('offline', 'offline: reload the page')
  })
  c.on('reconnecting', (info) => setStatus('reconnecting', `connection lost: reconnecting (attempt ${info.attempt})…`))
  c.on('reconnected', () => setStatus('live', 'live'))
}

addEventListener('hashchange', () => void route())

async function route() {
  const id = decodeURIComponent(location.hash.slice(1)).trim()
  if (id === '') return showLobby()
  if (doc?.id === id) return
  await openDocument(id)
}

// ---- documents --------------------------------------------------------------------------

/** Opens a document, creating it first when it does not exist. */
async function openDocument(id) {
  hideError()
  try {
    const reply = await getOrCreate(id)
    doc = reply.document
    users = reply['active-users']
    $('lobby').hidden = true
    $('document').hidden = false
    renderDocument()
    if (decodeURIComponent(location.hash.slice(1)) !== id) history.replaceState(null, '', `#${encodeURIComponent(id)}`)
    $('task-input').focus()
  } catch (err) {
    showError(err.message)
  }
}

async function getOrCreate(id) {
  try {
    return await client.request('document:get', { id })
  } catch (err) {
    if (err.code !== 'NOT_FOUND') throw err
  }
  try {
    await client.request('document:create', { id })
  } catch (err) {
    // Someone created it a moment ago: fine, open theirs.
    if (err.code !== 'CONFLICT') throw err
  }
  return client.request('document:get', { id })
}

/** Loads the open document again (after a version gap or a fresh connection). */
function refetch() {
  if (doc === null) return Promise.resolve()
  const id = doc.id
  return (refetching ??= client
    .request('document:get', { id })
    .then((reply) => {
      if (doc?.id !== id) return
      doc = reply.document
      users = reply['active-users']
      renderDocument()
    })
    .catch((err) => {
      showError(err.code === 'NOT_FOUND' ? `${id} is gone (the server restarted with an empty memory store)` : err.message)
      if (err.code === 'NOT_FOUND') {
        doc = null
        location.hash = ''
      }
    })
    .finally(() => (refetching = null)))
}

async function showLobby() {
  if (doc !== null) {
    doc = null
    await client.request('document:leave', {}).catch(() => {})
  }
  $('document').hidden = true
  $('lobby').hidden = false
  $('document-input').focus()
  try {
    const { documents } = await client.request('document:list', {})
    const list = $('documents')
    list.replaceChildren(
      ...documents.map((d) => {
        const li = el('li')
        const a = el('a', { href: `#${encodeURIComponent(d.id)}` }, d.id)
        li.append(a, el('span', { className: 'muted' }, `${d.nodes} task${d.nodes === 1 ? '' : 's'}`))
        return li
      }),
    )
    $('no-documents').hidden = documents.length > 0
  } catch (err) {
    showError(err.message)
  }
}

$('open-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const id = $('document-input').value.trim()
  if (id !== '') location.hash = encodeURIComponent(id)
})

$('close-document').addEventListener('click', () => {
  location.hash = ''
})

// Only the document's creator may delete it; anyone else is answered FORBIDDEN, shown as the error.
$('delete-document').addEventListener('click', async () => {
  if (doc === null || !confirm(`Delete ${doc.id} for everyone?`)) return
  hideError()
  try {
    await client.request('document:delete', { id: doc.id })
    doc = null
    location.hash = ''
  } catch (err) {
    showError(err.message)
  }
})

// ---- changes ----------------------------------------------------------------------------

/**
 * Applies a change that produced `frame.version`: the next version is applied, an old one was
 * already seen (ignored), and a jump means something was missed, so the document is loaded again.
 */
function applyPush(frame, mutate) {
  if (doc === null || frame.document !== doc.id) return
  if (frame.version <= doc.version) return
  if (frame.version !== doc.version + 1) {
    void refetch()
    return
  }
  mutate()
  doc.version = frame.version
  renderDocument()
}

/** Sends a change and applies its reply as this client's own next version. */
async function change(name, payload, mutate) {
  hideError()
  const id = doc?.id
  try {
    const reply = await client.request(name, payload)
    applyPush({ document: id, version: reply.version }, () => mutate(reply))
  } catch (err) {
    showError(err.message)
    renderDocument()
  }
}

$('task-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = $('task-input')
  const name = input.value.trim()
  if (name === '') return
  input.value = ''
  void change('node:create', { type: '/type/task', data: { name, done: false } }, (reply) => doc.nodes.push(reply.node))
})

function nodeOf(frame) {
  return { id: frame.id, type: frame.type, data: frame.data }
}

function replaceNode(node) {
  const i = doc.nodes.findIndex((n) => n.id === node.id)
  if (i !== -1) doc.nodes[i] = node
}

function removeNode(id) {
  doc.nodes = doc.nodes.filter((n) => n.id !== id)
}

// ---- rendering --------------------------------------------------------------------------

const rows = new Map()
/** The document the rows show. */
let renderedId = null

function renderDocument() {
  if (doc === null) return
  $('document-title').textContent = doc.data.title ?? doc.id
  // Version 1 is the empty document: every change since made the next one.
  const changes = doc.version - 1
  $('version').textContent = changes === 0 ? 'no changes yet' : `${changes} change${changes === 1 ? '' : 's'}`
  renderUsers()
  const list = $('tasks')
  const seen = new Set()
  // Rows new to a document already on screen flash; a document just opened shows its rows quietly.
  const loaded = renderedId === doc.id
  renderedId = doc.id
  doc.nodes.forEach((node, i) => {
    seen.add(node.id)
    let row = rows.get(node.id)
    if (row === undefined) {
      row = taskRow(node)
      rows.set(node.id, row)
      if (loaded) flash(row.li)
    } else if (updateRow(row, node)) {
      flash(row.li)
    }
    if (row.shown === undefined) updateRow(row, node)
    // Only a row out of place is moved: moving a row restarts its animation (and loses focus).
    const at = list.children[i]
    if (at !== row.li) list.insertBefore(row.li, at ?? null)
  })
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.li.remove()
      rows.delete(id)
    }
  }
  $('no-tasks').hidden = doc.nodes.length > 0
}

function taskRow(node) {
  const li = el('li', { className: 'task' })
  li.dataset.id = String(node.id)
  const check = el('input', { type: 'checkbox', title: 'done' })
  const name = el('input', { className: 'name', maxLength: 2000, ariaLabel: 'task' })
  const remove = el('button', { type: 'button', className: 'delete', title: 'delete task', ariaLabel: 'delete task' }, '×')
  check.addEventListener('change', () => {
    void change('node:update', { id: node.id, data: { done: check.checked } }, (reply) => replaceNode(reply.node))
  })
  name.addEventListener('change', () => {
    const value = name.value.trim()
    if (value === '') return renderDocument()
    void change('node:update', { id: node.id, data: { name: value } }, (reply) => replaceNode(reply.node))
  })
  name.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') name.blur()
  })
  remove.addEventListener('click', () => {
    void change('node:delete', { id: node.id }, () => removeNode(node.id))
  })
  li.append(check, name, remove)
  li.addEventListener('animationend', () => li.classList.remove('fresh'))
  return { li, check, name, shown: undefined }
}

/** Shows a node in its row; true when what the row showed changed (a first showing is not a change). */
function updateRow(row, node) {
  const done = node.data.done === true
  const name = String(node.data.name ?? '')
  const shown = `${done}\u0000${name}`
  const changed = row.shown !== undefined && row.shown !== shown
  row.shown = shown
  row.check.checked = done
  row.li.classList.toggle('done', done)
  // Never overwrite what the person is typing.
  if (document.activeElement !== row.name) row.name.value = name
  return changed
}

/** Highlights a row that is new or just changed, once: the class goes when its animation ends. */
function flash(li) {
  li.classList.remove('fresh')
  void li.offsetWidth // restarts the animation for a row that is still flashing
  li.classList.add('fresh')
}

function renderUsers() {
  $('active-users').replaceChildren(...users.map((u) => el('li', { className: u === me ? 'me' : '' }, u)))
}

function setStatus(state, text) {
  const status = $('status')
  status.dataset.state = state
  status.textContent = text
  const usable = state === 'live'
  for (const input of document.querySelectorAll('#task-form input, #task-form button, #tasks input, #tasks button')) {
    input.disabled = !usable
  }
}

function showError(message) {
  $('error').textContent = message
  $('error').hidden = false
}

function hideError() {
  $('error').hidden = true
}

function el(tag, props = {}, text) {
  const node = Object.assign(document.createElement(tag), props)
  if (text !== undefined) node.textContent = text
  return node
}
