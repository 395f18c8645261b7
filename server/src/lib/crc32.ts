// Table-driven CRC-32 (IEEE 802.3, as zlib): node:zlib only gained crc32 in Node 20.15,
// and package.json promises >= 20.10.
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Of a string's UTF-8 bytes, or of raw bytes as they came (a webhook's body). */
export function crc32(data: string | Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of typeof data === 'string' ? Buffer.from(data, 'utf8') : data) crc = TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
