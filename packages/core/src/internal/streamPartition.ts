const utf8 = new TextEncoder()

/** The partition, out of `count`, of a stream: FNV-1a (32 bits) of its name's UTF-8 bytes, modulo `count`. */
export const partitionOf = (stream: string, count: number): number => {
  let hash = 0x811c9dc5
  for (const byte of utf8.encode(stream)) {
    hash = Math.imul(hash ^ byte, 0x01000193)
  }
  return (hash >>> 0) % count
}
