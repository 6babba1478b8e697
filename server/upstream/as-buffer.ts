// A Buffer view of bytes, without touching `.buffer` when they are one already.

/**
 * The socket client's chunks are Buffers already. Wrapping one again reads its `.buffer`, which makes JSC
 * materialise an ArrayBuffer object for it: work on every upstream read for nothing.
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
