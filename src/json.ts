/** JSON.stringify that writes bigints as decimal strings and bytes as 0x-hex: the form of every JSON parkbench prints. */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(
    value,
    (_key, v) => {
      if (typeof v === 'bigint') return v.toString()
      if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`
      return v
    },
    indent,
  )
}
