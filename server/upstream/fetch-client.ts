// The upstream client over the runtime's fetch: used behind an HTTP(S)_PROXY (which fetch honours) and by tests
// that stand in for the network with a function.
import { readToEnd, type BodyReader, type ReadResult } from "./body-queue.ts";
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
  const body: BodyReader = {
    read: async (): Promise<ReadResult> => {
      const result = await streamReader()?.read();
      return result && !result.done ? { done: false, value: result.value } : { done: true, value: undefined };
    },
    cancel: () => streamReader()?.cancel() ?? Promise.resolve(),
    // Once reading has begun, the rest comes from the same reader.
    bytes: () => (reader ? readToEnd(body) : answer.bytes()),
    // A fetch body says nothing synchronously about how much of it has arrived.
    takeRestIfEnded: () => null,
  };
  return body;
}
