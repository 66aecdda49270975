import { createNatLab } from './netns.js'

/**
 * A process that builds a NAT lab and never closes it, for the crash test: `node nat-lab-process.js` prints
 * {id, namespaces} as one JSON line and waits to be killed. Its watchdog must then remove the namespaces.
 */
const lab = await createNatLab({ lans: [{ name: 'a' }] })
process.stdout.write(`${JSON.stringify({ id: lab.id, namespaces: lab.hosts.map((host) => lab.namespace(host)) })}\n`)
setInterval(() => {}, 60_000)
