import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PARKBENCH_BIN, runMain } from '../helpers/cli.js'

/** `parkbench ARGS` in this process with this environment (HOME and XDG_CONFIG_HOME point into a temp dir). */
const run = (argv: string[], env: NodeJS.ProcessEnv) => runMain(argv, { env })

/** The keys of a unit file, by section: enough of systemd's syntax to check what it will read. */
function parseUnit(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>()
  let current: Map<string, string> | undefined
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const section = /^\[(\w+)\]$/.exec(line)
    if (section != null) {
      current = new Map()
      sections.set(section[1]!, current)
      continue
    }
    const eq = line.indexOf('=')
    assert.ok(current != null && eq > 0, `not a key=value line inside a section: ${line}`)
    current.set(line.slice(0, eq), line.slice(eq + 1))
  }
  return sections
}

/** Split an ExecStart line as systemd does for the quoting service-unit.ts writes (double quotes, \\, %%, $$). */
function splitExecStart(line: string): string[] {
  const words: string[] = []
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g
  for (const match of line.matchAll(pattern)) {
    const word = match[1] != null ? match[1].replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c)) : match[2]!
    words.push(word.replace(/%%/g, '%').replace(/\$\$/g, '$'))
  }
  return words
}

describe('parkbench service (writes into a temp XDG_CONFIG_HOME; never calls systemctl)', () => {
  let dir: string
  let env: NodeJS.ProcessEnv
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-service-'))
    env = { HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'config') }
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('install writes a user unit that runs start with the absolute node, bin, data dir and flags', async () => {
    const dataDir = join(dir, 'data dir with spaces')
    const flags = ['--price', '10gwei/s', '--listen', '/ip4/0.0.0.0/tcp/4610', '--region', 'eu-50%-$HOME']
    const result = await run(['service', 'install', '--data-dir', dataDir, '--', ...flags], env)
    assert.equal(result.code, 0, result.stderr)
    const path = join(dir, 'config', 'systemd', 'user', 'parkbench.service')
    assert.match(result.stdout, new RegExp(`wrote ${path}`))
    assert.match(result.stdout, /systemctl --user daemon-reload && systemctl --user enable --now parkbench/)

    const unit = parseUnit(await readFile(path, 'utf8'))
    const service = unit.get('Service')!
    assert.deepEqual(splitExecStart(service.get('ExecStart')!), [
      process.execPath,
      PARKBENCH_BIN,
      'start',
      '--data-dir',
      dataDir,
      ...flags,
    ])
    assert.equal(service.get('Restart'), 'on-failure')
    assert.equal(service.get('StandardOutput'), 'journal', 'journalctl --user -u parkbench finds the logs')
    assert.equal(service.get('SyslogIdentifier'), 'parkbench')
    assert.equal(unit.get('Install')!.get('WantedBy'), 'default.target')
    assert.ok(unit.get('Unit')!.get('Description'))

    // systemd's own reader, where this machine has it (offline: it only parses the file and checks the binary).
    const analyze = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' })
    if (analyze.error == null) {
      assert.equal(analyze.status, 0, analyze.stderr)
      assert.doesNotMatch(analyze.stderr, /parkbench\.service/, analyze.stderr)
    }

    // --print shows the same unit without writing; a second install replaces it.
    const printed = await run(['service', 'install', '--print', '--data-dir', dataDir, '--', ...flags], env)
    assert.equal(printed.stdout, await readFile(path, 'utf8'))
    const again = await run(['service', 'install', '--data-dir', dataDir, '--json'], env)
    assert.equal(again.code, 0, again.stderr)
    assert.equal(JSON.parse(again.stdout).replaced, true)
  })

  it('honors ~/.config without XDG_CONFIG_HOME, and uninstall removes the unit and its enable link', async () => {
    const home = { HOME: join(dir, 'home2') }
    const installed = await run(['service', 'install', '--data-dir', join(dir, 'd2')], home)
    assert.equal(installed.code, 0, installed.stderr)
    const path = join(dir, 'home2', '.config', 'systemd', 'user', 'parkbench.service')
    assert.ok(existsSync(path))
    // What `systemctl --user enable` would have made.
    const wants = join(dir, 'home2', '.config', 'systemd', 'user', 'default.target.wants')
    await mkdir(wants, { recursive: true })
    await symlink(path, join(wants, 'parkbench.service'))

    const removed = await run(['service', 'uninstall'], home)
    assert.equal(removed.code, 0, removed.stderr)
    assert.match(removed.stdout, /removed .*parkbench\.service/)
    assert.ok(!existsSync(path))
    assert.ok(!existsSync(join(wants, 'parkbench.service')))
    const none = await run(['service', 'uninstall', '--json'], home)
    assert.equal(JSON.parse(none.stdout).removed, false)
  })

  it('--launchd prints the agent a Mac needs, with the same command', async () => {
    const result = await run(['service', 'install', '--launchd', '--data-dir', join(dir, 'd3'), '--', '--mdns'], env)
    assert.equal(result.code, 0, result.stderr)
    const plist = result.stdout
    assert.match(plist, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist/)
    assert.match(plist, /<key>Label<\/key>\n\s*<string>org\.parkbench\.daemon<\/string>/)
    const args = [
      ...plist
        .split('<key>ProgramArguments</key>')[1]!
        .split('</array>')[0]!
        .matchAll(/<string>(.*)<\/string>/g),
    ]
    assert.deepEqual(
      args.map((m) => m[1]),
      [process.execPath, PARKBENCH_BIN, 'start', '--data-dir', join(dir, 'd3'), '--mdns'],
    )
    assert.match(plist, /<key>KeepAlive<\/key>\n\s*<dict>\n\s*<key>SuccessfulExit<\/key>\n\s*<false\/>/)
    assert.match(result.stderr, /Library\/LaunchAgents\/org\.parkbench\.daemon\.plist/)
    assert.ok(!existsSync(join(dir, 'home', 'Library')), '--launchd only prints')
  })

  it('checks the start flags at install time (exit 2), so a typo does not fail at boot', async () => {
    const typo = await run(['service', 'install', '--print', '--', '--prize', '10gwei/s'], env)
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /prize/)
    const dataDirAfter = await run(['service', 'install', '--print', '--', '--data-dir', '/x'], env)
    assert.equal(dataDirAfter.code, 2)
    assert.match(dataDirAfter.stderr, /--data-dir before/)
  })
})
