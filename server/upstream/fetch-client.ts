// The upstream client over the runtime's fetch: used behind an HTTP(S)_PROXY (which fetch honours) and by tests
// that stand in for the network with a function.
import type { BodyReader, ReadResult } from "./body-queue.ts";
import type { UpstreamClient } from "./client.ts";

export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

export function createFetchUpstreamClient(fetchUpstream: FetchFunction): UpstreamClient {
  return {
    post(request) {
      const controller = new AbortController();
      const response = fetchUpstream(request.url, {
        method: "POST",
        headers: request.headers,
        body: request.body,
        signal: controller.signal,
        // A redirect would carry the instance's key to another host.
        redirect: "manual",
      }).then((answer) => ({ status: answer.status, headers: answer.headers, body: bodyReaderOf(answer) }));
      return { response, abort: () => controller.abort() };
    },
    close() {},
  };
}

function bodyReaderOf(answer: Response): BodyReader {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const streamReader = () => (reader ??= answer.body?.getReader() as ReadableStreamDefaultReader<Uint8Array> | undefined);
  return {
    read: async (): Promise<ReadResult> => {
      const result = await streamReader()?.read();
      return result && !result.done ? { done: false, value: result.value } : { done: true, value: undefined };
    },
    cancel: () => streamReader()?.cancel() ?? Promise.resolve(),
    bytes: () => (reader ? readRest(reader) : answer.bytes()),
  };
}

async function readRest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts);
    parts.push(value);
  }
}
