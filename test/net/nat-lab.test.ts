import assert from 'node:assert/strict'
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createNatLab, type NatLab, natLabSupport } from '../helpers/netns.js'
import { listNamespaces } from '../helpers/netns-cleanup.js'

// Plain TCP through the lab's real NATs (no libp2p): the harness itself is what is under test.

/** `node -e SERVER host port`: tells every client (and stdout) the address its connection came from. */
const SERVER = `
const net = require('node:net')
const [host, port] = process.argv.slice(1)
net.createServer((socket) => {
  const seen = { address: socket.remoteAddress, port: socket.remotePort }
  console.log(JSON.stringify({ connection: seen }))
  socket.end(JSON.stringify(seen) + '\\n')
}).listen(Number(port), host, () => console.log(JSON.stringify({ listening: true })))
`

/** `node -e CLIENT localPort targets`: connects to every target at once from one local port, prints the results. */
const CLIENT = `
const net = require('node:net')
const localPort = Number(process.argv[1]) || undefined
const targets = JSON.parse(process.argv[2])
const one = (target) => new Promise((resolve) => {
  const socket = net.connect({ host: target.host, port: target.port, localPort })
  let data = ''
  socket.setTimeout(3000, () => { socket.destroy(); resolve({ target, error: 'TIMEOUT' }) })
  socket.on('data', (chunk) => { data += chunk })
  socket.on('end', () => resolve({ target, seen: JSON.parse(data) }))
  socket.on('error', (err) => resolve({ target, error: err.code }))
})
Promise.all(targets.map(one)).then((results) => console.log(JSON.stringify(results)))
`

interface Seen {
  address: string
  port: number
}
interface ClientResult {
  target: { host: string; port: number }
  seen?: Seen
  error?: string
}

const PORT = 7000

interface Server {
  child: ChildProcess
  connections: Seen[]
}

/** Start SERVER on a host and wait (bounded) until it listens. */
async function startServer(lab: NatLab, host: string, port = PORT): Promise<Server> {
  const child = lab.spawn(host, [process.execPath, '-e', SERVER, lab.address(host), String(port)])
  const connections: Seen[] = []
  let buffered = ''
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server on ${host} did not listen in 5 s: ${stderr}`)), 5_000)
    child.once('exit', (code) => reject(new Error(`server on ${host} exited with ${code}: ${stderr}`)))
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk
      let newline = buffered.indexOf('\n')
      while (newline >= 0) {
        const message = JSON.parse(buffered.slice(0, newline)) as { listening?: true; connection?: Seen }
        buffered = buffered.slice(newline + 1)
        if (message.connection != null) connections.push(message.connection)
        if (message.listening === true) {
          clearTimeout(timer)
          resolve()
        }
        newline = buffered.indexOf('\n')
      }
    })
  })
  return { child, connections }
}

async function connect(lab: NatLab, host: string, targets: string[], localPort = 0): Promise<ClientResult[]> {
  const list = JSON.stringify(targets.map((target) => ({ host: target, port: PORT })))
  const result = await lab.exec(host, [process.execPath, '-e', CLIENT, String(localPort), list], { timeoutMs: 10_000 })
  assert.equal(result.code, 0, result.stderr)
  return JSON.parse(result.stdout) as ClientResult[]
}

describe('NAT lab (network namespaces behind real MASQUERADE NATs)', async () => {
  const support = await natLabSupport()
  const skip = support.ok ? false : `NAT lab unsupported here: ${support.reason}`
  let lab: NatLab
  const servers = new Map<string, Server>()

  before(async () => {
    if (!support.ok) return
    lab = await createNatLab({
      publicHosts: ['relay', 'echo'],
      lans: [
        { name: 'a', nat: 'cone' },
        { name: 'b', nat: 'symmetric' },
        { name: 'c', doubleNat: true },
      ],
    })
    for (const host of ['relay', 'echo', 'b']) servers.set(host, await startServer(lab, host))
  })
  after(async () => {
    await lab?.close()
  })

  it('masquerades: a LAN host reaches a public server, which sees the NAT public address', { skip }, async () => {
    const [result] = await connect(lab, 'a', [lab.address('relay')])
    assert.equal(result?.error, undefined)
    assert.equal(result?.seen?.address, lab.address('a-nat'))
    assert.notEqual(result?.seen?.address, lab.address('a'))
    assert.ok(servers.get('relay')!.connections.some((seen) => seen.address === lab.address('a-nat')))
  })

  it('lets nothing in: LAN A cannot reach a server in LAN B, by private or NAT address', { skip }, async (t) => {
    const seenBefore = servers.get('b')!.connections.length
    // The server in B is up: B reaches it itself.
    const [local] = await connect(lab, 'b', [lab.address('b')])
    assert.equal(local?.seen?.address, lab.address('b'))
    const [byPrivate, byNat] = await connect(lab, 'a', [lab.address('b'), lab.address('b-nat')])
    t.diagnostic(`private address: ${byPrivate?.error}, NAT address: ${byNat?.error}`)
    // No route to 192.168.2.0/24 anywhere on the internet side; the NAT has no port forward.
    assert.ok(byPrivate?.error != null, `private address answered: ${JSON.stringify(byPrivate)}`)
    assert.ok(byNat?.error != null, `NAT address answered: ${JSON.stringify(byNat)}`)
    assert.equal(servers.get('b')!.connections.length, seenBefore + 1)
  })

  it('maps one LAN port to one public port per destination behind symmetric, one for all behind cone', {
    skip,
  }, async (t) => {
    const destinations = [lab.address('relay'), lab.address('echo')]
    const cone = await connect(lab, 'a', destinations, 40_001)
    const symmetric = await connect(lab, 'b', destinations, 40_001)
    for (const result of [...cone, ...symmetric]) assert.equal(result.error, undefined, JSON.stringify(result))
    const conePorts = cone.map((result) => result.seen!.port)
    const symmetricPorts = symmetric.map((result) => result.seen!.port)
    // Measured here: cone keeps the LAN port (40001 twice); --random-fully gives two random ports.
    assert.equal(conePorts[0], conePorts[1], `cone ports ${conePorts}`)
    assert.notEqual(symmetricPorts[0], symmetricPorts[1], `symmetric ports ${symmetricPorts}`)
    for (const result of symmetric) assert.equal(result.seen!.address, lab.address('b-nat'))
    t.diagnostic(`LAN port 40001 -> cone ${conePorts}, symmetric ${symmetricPorts}`)
  })

  it('double NAT: a host behind a home router and a carrier NAT appears with the carrier address', {
    skip,
  }, async () => {
    const [result] = await connect(lab, 'c', [lab.address('relay')])
    assert.equal(result?.error, undefined)
    assert.equal(result?.seen?.address, lab.address('c-nat'))
    assert.equal(lab.publicAddress('c'), lab.address('c-nat'))
    assert.notEqual(result?.seen?.address, lab.address('c-router'))
  })

  it('close() removes every namespace of the lab and can be called twice', { skip }, async () => {
    const small = await createNatLab({ lans: [{ name: 'a', doubleNat: true }] })
    const mine = (names: string[]) => names.filter((name) => name.startsWith(`${small.id}-`))
    assert.equal(mine(await listNamespaces()).length, 5) // internet, relay, a-nat, a-router, a
    const server = await startServer(small, 'relay')
    await small.close()
    await small.close()
    assert.deepEqual(mine(await listNamespaces()), [])
    assert.ok(server.child.exitCode != null || server.child.signalCode != null || (await exited(server.child)))
    // Nothing else saw it either: the root namespace's `ip netns` agrees.
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`${small.id}-`))
  })

  it('removes the namespaces of a lab whose process was killed with SIGKILL (watchdog)', { skip }, async () => {
    const script = fileURLToPath(new URL('../helpers/nat-lab-process.js', import.meta.url))
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] })
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const [line] = (await once(child.stdout!, 'data')) as [Buffer]
    const { id } = JSON.parse(line.toString()) as { id: string }
    const mine = async () => (await listNamespaces()).filter((name) => name.startsWith(`${id}-`))
    assert.equal((await mine()).length, 4) // internet, relay, a-nat, a
    child.kill('SIGKILL')
    clearTimeout(timer)
    await once(child, 'exit')
    // The watchdog polls its parent every second.
    const deadline = Date.now() + 5_000
    while ((await mine()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(await mine(), [])
  })

  it('sweeps namespaces left by a dead process when a lab is created', { skip }, async () => {
    const dead = spawn('true')
    await once(dead, 'exit')
    const stale = `pbnat-${dead.pid}-0-stale`
    execFileSync('ip', ['netns', 'add', stale])
    const fresh = await createNatLab({ lans: [] })
    try {
      assert.ok(!(await listNamespaces()).includes(stale))
    } finally {
      await fresh.close()
      execFileSync('/bin/sh', ['-c', `ip netns del ${stale} 2>/dev/null; true`])
    }
  })
})

function exited(child: ChildProcess): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 2_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}
