import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { CommandIo } from '../../src/cli/command.js'
import { createProgress } from '../../src/cli/progress.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { PARKBENCH_BIN, REPO_ROOT, runMain, writeChainFile } from '../helpers/cli.js'

const MODEL = join(REPO_ROOT, 'node_modules', '@gutenye', 'ocr-models', 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx')

interface Captured {
  code: number
  stdout: string
  stderr: string
}

/** `parkbench ARGS` in this process; `tty` says whether stderr is a terminal, `env` adds to a PATH-only env. */
const run = (argv: string[], options: { env?: NodeJS.ProcessEnv; tty?: boolean } = {}): Promise<Captured> =>
  runMain(argv, options)

function captureIo(env: NodeJS.ProcessEnv, stderrIsTTY: boolean): { io: CommandIo; stderr: () => string } {
  let stderr = ''
  return {
    io: {
      stdout: () => {},
      stderr: (t) => {
        stderr += t
      },
      signal: new AbortController().signal,
      env,
      stderrIsTTY,
    },
    stderr: () => stderr,
  }
}

describe('progress bars and spinners (stderr, terminals only)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-progress-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('draws on a terminal or when forced; never without one, with --json, or when turned off', () => {
    const draw = (env: NodeJS.ProcessEnv, tty: boolean, json = false): string => {
      const { io, stderr } = captureIo(env, tty)
      const progress = createProgress(io, { json })
      progress.bar('copying', 512 * 1024, 2 ** 20)
      progress.bar('copying', 2 ** 20, 2 ** 20)
      progress.done('copied')
      return stderr()
    }
    const drawn = draw({}, true)
    assert.match(drawn, /copying \[#{12}-{12}\] {2}50% {2}0\.5\/1\.0 MiB/)
    assert.match(drawn, /copying \[#{24}\] 100% {2}1\.0\/1\.0 MiB/)
    assert.ok(drawn.includes('\r\u001b[2K'), 'redrawn in place')
    assert.ok(drawn.endsWith('copied\n'))
    assert.equal(draw({ PARKBENCH_PROGRESS: '1' }, false), drawn, 'PARKBENCH_PROGRESS=1 forces it')
    assert.equal(draw({}, false), '')
    assert.equal(draw({}, true, true), '', '--json is for machines')
    assert.equal(draw({ PARKBENCH_PROGRESS: '0' }, true), '')

    // A bar is redrawn only when what it shows changes, not on every chunk.
    const { io, stderr } = captureIo({}, true)
    const progress = createProgress(io)
    for (let i = 0; i < 100; i++) progress.bar('x', 10, 2 ** 30)
    assert.equal(stderr().split('\r').length - 1, 1)
    progress.spin('waiting')
    assert.ok(stderr().endsWith('⠋ waiting'))
    progress.done()
  })

  it('model add shows its steps on a terminal; stdout is the same either way, and nothing else without one', async () => {
    const plain = await run(['model', 'add', MODEL, '--data-dir', join(dir, 'a')])
    assert.equal(plain.code, 0, plain.stderr)
    assert.equal(plain.stderr, '', 'no terminal: nothing extra')
    const drawn = await run(['model', 'add', MODEL, '--data-dir', join(dir, 'b')], { tty: true })
    assert.equal(drawn.code, 0, drawn.stderr)
    assert.equal(drawn.stdout, plain.stdout)
    assert.match(drawn.stderr, /hashing .*\.onnx/)
    assert.match(drawn.stderr, /copying \[#{24}\] 100%/)
    assert.match(drawn.stderr, /loading it in onnxruntime/)
    assert.ok(drawn.stderr.endsWith('\r\u001b[2K'), 'the line is cleared before the result prints')
    const json = await run(['model', 'add', MODEL, '--data-dir', join(dir, 'c'), '--json'], { tty: true })
    assert.equal(json.stderr, '')
    assert.equal(JSON.parse(json.stdout).sha256, plain.stdout.split(' ')[0])
  })

  // script(1) is util-linux's: on every Linux this runs on.
  it('in a real pseudo-terminal (script(1)) the bar reaches the terminal', () => {
    const command = [process.execPath, PARKBENCH_BIN, 'model', 'add', MODEL, '--data-dir', join(dir, 'pty')]
    const result = spawnSync('script', ['-qec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: dir },
      timeout: 60_000,
    })
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /copying \[#{24}\] 100%/)
    assert.match(result.stdout, /[0-9a-f]{64} {2}ch_ppocr_mobile_v2\.0_cls_infer\.onnx/)
  })

  describe('channel open (real anvil)', () => {
    let chain: DevChain
    let chainFile: string
    before(async () => {
      chain = await startDevChain()
      chainFile = await writeChainFile(chain, dir)
    })
    after(async () => {
      await chain?.stop()
    })

    it('spins while the open transaction confirms, on a terminal only', async () => {
      const renter = [
        '--data-dir',
        join(dir, 'renter'),
        '--chain',
        chainFile,
        '--private-key',
        chain.accounts[1]!.privateKey,
      ]
      const peer = (await run(['id', '--data-dir', join(dir, 'provider')])).stdout.trim()
      const to = ['--provider', chain.accounts[2]!.address, '--peer', peer, '--amount', '0.01ETH']
      const drawn = await run(['channel', 'open', ...renter, ...to], { tty: true })
      assert.equal(drawn.code, 0, drawn.stderr)
      assert.match(drawn.stderr, /⠋ opening a channel to 0x[0-9a-fA-F]{40} \(deposit 0\.01 ETH\)/)
      assert.match(drawn.stdout, /^opened channel 0x[0-9a-f]{64}\n {2}deposit 0\.01 ETH\n/)
      const plain = await run(['channel', 'open', ...renter, ...to])
      assert.equal(plain.code, 0, plain.stderr)
      assert.equal(plain.stderr, '')
    })

    it('spins while settling, then prints the report on stdout', async () => {
      const provider = ['--data-dir', join(dir, 'provider'), '--chain', chainFile]
      const drawn = await run(['channel', 'settle', ...provider, '--private-key', chain.accounts[2]!.privateKey], {
        tty: true,
      })
      assert.equal(drawn.code, 0, drawn.stderr)
      assert.match(drawn.stderr, /⠋ settling your channels/)
      assert.ok(drawn.stderr.endsWith('\r\u001b[2K'), 'cleared before the report')
      assert.equal(drawn.stdout, 'nothing to settle\n')
    })
  })
})
