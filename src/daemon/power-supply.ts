import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

const read = async (file: string): Promise<string | undefined> =>
  readFile(file, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  )

/**
 * Is the machine on mains power? Linux tells in sysfs: each `<dir>/<supply>/type` is `Mains`, `Battery`, `USB`...;
 * a Mains (or USB) supply with `online` 1 means plugged in; a battery whose `status` is `Discharging` means not.
 * undefined when the directory says nothing either way (a desktop with no entries, a VM, another OS).
 */
export async function readAcPower(dir = '/sys/class/power_supply'): Promise<boolean | undefined> {
  let supplies: string[]
  try {
    supplies = await readdir(dir)
  } catch {
    return undefined
  }
  let mainsSeen = false
  let discharging = false
  for (const name of supplies) {
    const type = await read(join(dir, name, 'type'))
    if (type === 'Mains' || type === 'USB') {
      const online = await read(join(dir, name, 'online'))
      if (online === '1') return true
      if (online === '0') mainsSeen = true
    } else if (type === 'Battery') {
      if ((await read(join(dir, name, 'status'))) === 'Discharging') discharging = true
    }
  }
  return mainsSeen || discharging ? false : undefined
}
