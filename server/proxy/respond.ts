// Builds the client's Response for a buffered upstream body in as few socket writes as Bun allows.

/** Bun sends a body produced after an await in two writes once it passes ~16 KB (see PERF-NOTES); a direct stream sends it in one. */
const ONE_WRITE_THRESHOLD_BYTES = 16 * 1024;

export function respondWithBytes(bytes: Uint8Array, status: number, headers: Record<string, string>): Response {
  if (bytes.byteLength <= ONE_WRITE_THRESHOLD_BYTES) return new Response(bytes, { status, headers });
  const body = new ReadableStream<Uint8Array>({
    type: "direct",
    pull(controller) {
      controller.write(bytes);
      controller.close();
    },
  });
  return new Response(body, { status, headers });
}
