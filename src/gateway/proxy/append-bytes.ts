/** ArrayBuffers allocated by appendBytes: the room after their last view is free to write. */
const grown = new WeakSet<ArrayBufferLike>();

/**
 * `a` followed by `b`, for a head that arrives over several reads. When `a` ends at the used end of a buffer this
 * function allocated and there is room, `b` is copied in after it; otherwise both go into a new buffer with twice
 * the room. A head sent a few bytes per segment (up to MAX_HEAD_BYTES) thus costs linear copying, not the
 * quadratic cost of concatenating everything again on each read.
 *
 * The caller must treat the result as the only live view to append to (older views stay valid for reading: what
 * they cover is never overwritten).
 */
export function appendBytes(a: Buffer, b: Buffer): Buffer {
  const end = a.byteOffset + a.length;
  const store = a.buffer;
  if (grown.has(store) && end + b.length <= store.byteLength && usedEnd.get(store) === end) {
    b.copy(Buffer.from(store, end, b.length));
    usedEnd.set(store, end + b.length);
    return Buffer.from(store, a.byteOffset, a.length + b.length);
  }
  const out = Buffer.allocUnsafeSlow(Math.max(1024, 2 * (a.length + b.length)));
  a.copy(out, 0);
  b.copy(out, a.length);
  grown.add(out.buffer);
  usedEnd.set(out.buffer, a.length + b.length);
  return out.subarray(0, a.length + b.length);
}

/** How far each grown buffer is written (a view ending earlier must not append over later bytes). */
const usedEnd = new WeakMap<ArrayBufferLike, number>();
