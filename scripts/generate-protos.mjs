#!/usr/bin/env node
// Generate TypeScript for every protocols/*.proto with protons, into src/<area>/pb/.
// protons' output is not written for `exactOptionalPropertyTypes`, so each generated file is marked @ts-nocheck:
// its exported types are still checked wherever our code uses them.
//
// protons-runtime 7 writes a 64-bit varint whose value lies in [2^31, 2^32) as one wrong byte plus zero padding
// (its LongBits keeps the low word as a signed int), which corrupts every field after it: a price of 3 gwei, a
// 3 GB memory size. The varint of such a value is the same bytes as its uint32 varint, and protons' uint32 writer
// is correct, so every 64-bit write below 2^32 is routed through it. test/net/protobuf-varint.test.ts guards this.
//
// protons 9 also decodes less than proto3 allows, which lets one odd field fail a whole frame (and with it every
// request pipelined on the stream). For the protos in OPEN_DECODING the generated decoders are made to accept
// what any proto3 encoder may send (test/compute/proto-decoding.test.ts guards this):
// - a repeated scalar field packed (one length-delimited record) as well as unpacked (one record per value):
//   protons reads only the unpacked form and misreads the packed one;
// - an enum value this build does not know: proto3 enums are open, protons throws 'Invalid enum value'. It
//   decodes as the enum's zero value (UNSPECIFIED), which the code then refuses as it would a missing value.
// And they refuse what proto3 does not allow and protons lets through: a field that runs past the end of the
// embedded message holding it (protons reads on into the fields after it, so a cut-short tensor would swallow the
// request's id).
// The other protos' areas can join the list when their owners regenerate them.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// A proto goes to src/<its name>/pb unless listed here.
const OUT_DIRS = { 'onnx-tensor': 'src/compute/pb', dcutr: 'src/net/pb' }
// The protos whose decoders accept packed repeated scalars and unknown enum values (see above).
const OPEN_DECODING = new Set(['compute', 'onnx-tensor'])

// protons-runtime reader methods of scalar types, the ones a proto3 encoder may pack.
const SCALAR_READS =
  'u?int32|u?int64(?:Number|String)?|sint32|sint64(?:Number|String)?|bool|s?fixed32|s?fixed64(?:Number|String)?|float|double'

/** `lines` moved to start at `spaces` columns, keeping their indentation relative to each other. */
function reindent(lines, spaces) {
  const rows = lines.split('\n')
  const depth = Math.min(...rows.filter((r) => r.trim() !== '').map((r) => r.length - r.trimStart().length))
  return rows.map((r) => (r.trim() === '' ? '' : ' '.repeat(spaces) + r.slice(depth))).join('\n')
}

function acceptPackedRepeated(text) {
  const limits = String.raw`((?:[ \t]*if \(.*\n[ \t]*throw .*\n[ \t]*\}\n\n?)*)`
  const decode = new RegExp(
    String.raw`case (\d+): \{\n${limits}([ \t]*obj\.\w+\.push\(reader\.(?:${SCALAR_READS})\(\)\))\n[ \t]*break\n`,
    'g',
  )
  const stream = new RegExp(
    String.raw`case (\d+): \{\n${limits}([ \t]*yield \{\n[ \t]*field: .*\n[ \t]*index: obj\.\w+,\n[ \t]*value: reader\.(?:${SCALAR_READS})\(\)\n[ \t]*\}\n\n[ \t]*obj\.\w+\+\+)\n\n[ \t]*break\n`,
    'g',
  )
  const packed = (id, body) => `case ${id}: {
              // proto3 parsers must accept a packed record (wire type 2) as well as one record per value.
              if ((tag & 7) === 2) {
                const packedEnd = reader.uint32() + reader.pos
                while (reader.pos < packedEnd) {
${reindent(body, 18)}
                }
              } else {
${reindent(body, 16)}
              }
              break
`
  return text
    .replace(decode, (_, id, checks, read) => packed(id, `${checks}${read}`))
    .replace(stream, (_, id, checks, read) => packed(id, `${checks}${read}`))
}

function boundEmbeddedMessages(text) {
  return text.replace(
    /\n([ \t]*)return obj\n([ \t]*)\}, function \* \(reader, length, prefix, opts = \{\}\) \{/g,
    (match, indent) =>
      `\n${indent}if (reader.pos > end) {\n${indent}  throw new RangeError('A field runs past the end of its message')\n${indent}}\n${match}`,
  )
}

function openEnums(text) {
  if (!text.includes('enumeration<')) return text
  const helper = `
/**
 * proto3 enums are open: a value this build does not know decodes as the enum's zero value instead of failing
 * the whole message (added by scripts/generate-protos.mjs).
 */
function openEnumeration<T> (values: Record<string | number, string | number>): Codec<T> {
  const codec = enumeration<T>(values)
  return {
    ...codec,
    decode: (reader) => {
      const name = values[reader.int32()]
      return (typeof name === 'string' ? name : values[0]) as T
    }
  }
}
`
  const body = text.replace(/return enumeration<(\w+)>\(/g, 'return openEnumeration<$1>(')
  // After the imports.
  const lastImport = body.lastIndexOf('\nimport ')
  const endOfImports = body.indexOf('\n', lastImport + 1) + 1
  return body.slice(0, endOfImports) + helper + body.slice(endOfImports)
}

function fixVarint64Writes(text) {
  // Statement form: the generated code has no semicolons, so a line must not start with a parenthesis.
  return text
    .replace(/w\.uint64\(([\w.]+)\)/g, 'if ($1 < 4294967296n) { w.uint32(Number($1)) } else { w.uint64($1) }')
    .replace(
      /w\.int64\(([\w.]+)\)/g,
      'if ($1 >= 0n && $1 < 4294967296n) { w.uint32(Number($1)) } else { w.int64($1) }',
    )
    .replace(
      /w\.sint64\(([\w.]+)\)/g,
      'if ($1 >= -1073741824n && $1 < 1073741824n) { w.sint32(Number($1)) } else { w.sint64($1) }',
    )
}

for (const file of readdirSync(join(root, 'protocols')).filter((f) => f.endsWith('.proto'))) {
  const name = basename(file, '.proto')
  const outDir = join(root, OUT_DIRS[name] ?? `src/${name}/pb`)
  mkdirSync(outDir, { recursive: true })
  execFileSync(join(root, 'node_modules/.bin/protons'), [join(root, 'protocols', file), '-o', outDir], { stdio: 'inherit' })
  const out = join(outDir, `${name}.ts`)
  let text = fixVarint64Writes(readFileSync(out, 'utf8'))
  if (OPEN_DECODING.has(name)) text = openEnums(boundEmbeddedMessages(acceptPackedRepeated(text)))
  const header = `// @ts-nocheck: generated by protons from protocols/${file}; do not edit, run \`npm run generate\`.\n`
  writeFileSync(out, text.startsWith('// @ts-nocheck') ? text : header + text)
  process.stdout.write(`${file} -> ${out.slice(root.length + 1)}\n`)
}
