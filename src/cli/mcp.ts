import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { createMcpServer } from '../gateway/index.js'
import type { Command } from './command.js'
import { stringFlag } from './command.js'
import { GATEWAY_SHARED_OPTIONS, openGatewayFromArgs } from './gateway.js'

/** The environment variable that holds the API key `parkbench mcp` spends against. */
export const API_KEY_ENV = 'PARKBENCH_API_KEY'

export const mcpCommand: Command = {
  name: 'mcp',
  summary:
    'Serve the Model Context Protocol over stdio: tools to list nearby offers and models, run inference and report spend, against one API key',
  usage: `parkbench mcp --key KEY|$${API_KEY_ENV} [--model ALIAS=FILE...] (--bootstrap ADDR... | --mdns)`,
  options: {
    key: { type: 'string', valueName: 'KEY', description: `The API key to spend against (default $${API_KEY_ENV})` },
    ...GATEWAY_SHARED_OPTIONS,
  },
  async run(args, io) {
    const token = stringFlag(args, 'key') ?? io.env[API_KEY_ENV]
    const opened = await openGatewayFromArgs(args, io)
    try {
      // A wrong key is said at once, on stderr (stdout is the protocol's), and every tool call answers it too.
      await opened.gateway.keys.authenticate(token).catch((err: Error) => io.stderr(`parkbench mcp: ${err.message}\n`))
      const server = createMcpServer(opened.gateway, { token })
      const transport = new StdioServerTransport()
      const closed = new Promise<void>((resolve) => {
        transport.onclose = () => resolve()
        process.stdin.once('end', () => resolve())
        io.signal.addEventListener('abort', () => resolve(), { once: true })
      })
      await server.connect(transport)
      io.stderr('parkbench mcp: serving on stdio\n')
      await closed
      await server.close()
    } finally {
      await opened.close()
    }
    return 0
  },
}
