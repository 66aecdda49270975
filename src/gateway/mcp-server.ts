import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { currentSpend } from './budget.js'
import type { Gateway } from './gateway.js'
import { errorAnswer, inferResponse } from './oip-response.js'
import { oipDatatype, parseInferRequest } from './oip-tensors.js'

/** What an MCP tool answers: the JSON as text (what every client shows) and as structured content. */
function answer(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value }
}

function failure(err: unknown): CallToolResult {
  const body = errorAnswer(err).body as string
  return { isError: true, content: [{ type: 'text', text: body }] }
}

const tensorSchema = z.object({
  name: z.string(),
  datatype: z.string().describe('BOOL, INT8..INT64, UINT8..UINT64, FP16, FP32, FP64 or BYTES (strings)'),
  shape: z.array(z.number().int().nonnegative()),
  data: z.array(z.unknown()).describe('Row-major values, flat or nested; INT64 may be decimal strings'),
})

/**
 * An MCP server over a {@link Gateway}, spending against the key `token`: tools to list models and nearby offers,
 * run inference (Open Inference Protocol JSON tensors in and out, with the cost and provider), and report spend.
 * Connect it to a transport (`server.connect(new StdioServerTransport())`).
 */
export function createMcpServer(gateway: Gateway, init: { token: string | undefined; version?: string }): McpServer {
  const server = new McpServer({ name: 'parkbench', version: init.version ?? '0.0.0' })
  const { token } = init

  server.registerTool(
    'list_models',
    {
      title: 'Models this gateway serves',
      description:
        'Models by alias (local .onnx files, pushed to providers that lack them): their sha256, inputs and outputs.',
    },
    async () => {
      try {
        await gateway.keys.authenticate(token)
        const spec = (t: { name: string; dtype: string; dims: Array<number | string> }) => ({
          name: t.name,
          datatype: t.dtype === 'non-tensor' ? 'NON_TENSOR' : oipDatatype(t.dtype),
          shape: t.dims.map((d) => (typeof d === 'number' ? d : -1)),
        })
        const models = gateway.models.aliases().map((m) => ({
          name: m.name,
          sha256: m.sha256,
          inputs: m.signature?.inputs.map(spec) ?? [],
          outputs: m.signature?.outputs.map(spec) ?? [],
        }))
        return answer({ models })
      } catch (err) {
        return failure(err)
      }
    },
  )

  server.registerTool(
    'list_offers',
    {
      title: 'Nearby compute offers',
      description:
        'Providers nearby, best first (price weighted by round-trip time): price per second in wei, threads, models held, RTT, and whether this gateway can pay them.',
      inputSchema: {
        model: z.string().optional().describe('Only providers holding this model (alias or sha256)'),
      },
    },
    async ({ model }) => {
      try {
        await gateway.keys.authenticate(token)
        const sha256 = model != null ? gateway.models.resolve(model).sha256 : undefined
        const offers = await gateway.client.offers(sha256 != null ? { model: sha256 } : {})
        return answer({
          offers: offers.map((o) => ({
            providerPeer: o.peerId.toString(),
            pricePerSecondWei: o.pricePerSecond.toString(),
            rttMs: Math.round(o.rttMs * 10) / 10,
            threads: o.offer.threads,
            payable: o.payable,
            models: o.offer.models.map((m) => ({ name: m.name, sha256: Buffer.from(m.sha256).toString('hex') })),
          })),
        })
      } catch (err) {
        return failure(err)
      }
    },
  )

  server.registerTool(
    'infer',
    {
      title: 'Run inference on a nearby provider',
      description:
        "Run a model (alias or sha256) on the best provider nearby, paid per second from this key's budget. Inputs and outputs are Open Inference Protocol JSON tensors; the answer says what it cost (wei) and who served it.",
      inputSchema: {
        model: z.string(),
        inputs: z.array(tensorSchema).min(1),
        outputs: z.array(z.string()).optional().describe('Only these outputs (default all)'),
      },
    },
    async ({ model, inputs, outputs }) => {
      try {
        const body = JSON.stringify({
          inputs,
          ...(outputs != null ? { outputs: outputs.map((name) => ({ name })) } : {}),
        })
        const request = parseInferRequest(Buffer.from(body))
        const result = await gateway.infer(token, model, {
          inputs: request.inputs,
          outputNames: request.outputs.map((o) => o.name),
        })
        const response = JSON.parse(inferResponse(result, request).body as string) as Record<string, unknown>
        return answer(response)
      } catch (err) {
        return failure(err)
      }
    },
  )

  server.registerTool(
    'spend',
    {
      title: "This key's spend and budget",
      description:
        'What this key has spent (wei) this UTC hour, today and in total, against its caps, and when each resets.',
    },
    async () => {
      try {
        const key = await gateway.keys.authenticate(token)
        const s = currentSpend(gateway.keys.spendOf(key.id))
        const cap = (v: bigint | undefined) => (v == null ? null : v.toString())
        return answer({
          key: key.name,
          maxPricePerSecondWei: key.caps.maxPricePerSecond.toString(),
          hour: {
            spentWei: s.hour.toString(),
            capWei: cap(key.caps.maxPerHour),
            resetsAt: new Date(s.hourStart + 3_600_000).toISOString(),
          },
          day: {
            spentWei: s.day.toString(),
            capWei: cap(key.caps.maxPerDay),
            resetsAt: new Date(s.dayStart + 86_400_000).toISOString(),
          },
          total: { spentWei: s.total.toString(), capWei: cap(key.caps.maxTotal) },
          reservedWei: gateway.reservedFor(key.id).toString(),
        })
      } catch (err) {
        return failure(err)
      }
    },
  )
  return server
}
