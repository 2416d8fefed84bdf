// The documents demo page: plain JS on Talk's browser client, no build step.
// Every change is a request; everyone else hears it as a push carrying the version it produced.
import { connect } from '/talk-client.js'

const $ = (id) => document.getElementById(id)
const NAME_KEY = 'talk-demo-name'

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
if (me === '') {
  $('name-form').hidden = false
  setStatus('offline', 'not connected')
  $('name-input').focus()
} else {
  start()
}

$('name-form').addEventListener('submit', (event) => {
  event.preventDefault()
  me = $('name-input').value.trim()
  if (me === '') return
  localStorage.setItem(NAME_KEY, me)
  $('name-form').hidden = true
  start()
})

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
    setStatus('offline', 'offline')
    showError(`Cannot connect: ${err.message}`)
    return
  }
  listen(client)
  setStatus('live', 'live')
  await route()
}

function listen(c) {
  c.on('node:create', (frame) => applyPush(frame, () => doc.nodes.push(nodeOf(frame))))
  c.on('node:update', (frame) => applyPush(frame, () => replaceNode(nodeOf(frame))))
  c.on('node:delete', (frame) => applyPush(frame, () => removeNode(frame.id)))
  c.on('document:update', (frame) => applyPush(frame, () => (doc.data = frame.data)))
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
    if (info.willReconnect) setStatus('reconnecting', 'connection lost: reconnecting…')
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

function renderDocument() {
  if (doc === null) return
  $('document-title').textContent = doc.data.title ?? doc.id
  $('version').textContent = `v${doc.version}`
  renderUsers()
  const list = $('tasks')
  const seen = new Set()
  for (const node of doc.nodes) {
    seen.add(node.id)
    let row = rows.get(node.id)
    if (row === undefined) {
      row = taskRow(node)
      rows.set(node.id, row)
      if (list.childElementCount > 0) row.li.classList.add('fresh')
    }
    updateRow(row, node)
    list.append(row.li) // keeps document order; appending an attached node moves it
  }
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
  return { li, check, name }
}

function updateRow(row, node) {
  const done = node.data.done === true
  row.check.checked = done
  row.li.classList.toggle('done', done)
  // Never overwrite what the person is typing.
  if (document.activeElement !== row.name) row.name.value = String(node.data.name ?? '')
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
