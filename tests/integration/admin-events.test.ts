// GET /admin/events end to end: snapshot first, live state and config changes, request errors, metrics, clean disconnects.
import { describe, expect, it } from "bun:test";
import OpenAI from "openai";
import { startFakeAzure } from "../_support/fake-azure.ts";
import { openEventStream } from "../_support/event-stream.ts";
import { azureInstances, startProxy } from "../_support/proxy.ts";
import { until } from "../_support/until.ts";

const ADMIN_TOKEN = "adm-events-token-0123456789";
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function setup() {
  const east = await startFakeAzure({ apiKey: "east-events-key-0123456789" });
  const west = await startFakeAzure({ apiKey: "west-events-key-0123456789" });
  const proxy = await startProxy({
    config: {
      admin: { token: ADMIN_TOKEN },
      health_check: { enabled: false },
      instances: azureInstances([
        { url: east.url, apiKey: east.apiKey, name: "east" },
        { url: west.url, apiKey: west.apiKey, name: "west" },
      ]),
    },
  });
  return {
    east,
    west,
    proxy,
    client: new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 }),
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      await Promise.all([east[Symbol.asyncDispose](), west[Symbol.asyncDispose]()]);
    },
  };
}

type InstanceFrame = { at: number; instance: { name: string; state: { status: string } } };

describe("admin event stream", () => {
  it("starts with a snapshot and delivers an instance's state change within a second", async () => {
    await using s = await setup();
    await using stream = await openEventStream(`${s.proxy.url}/admin/events`, auth);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const first = await stream.next();
    expect(first).toMatchObject({ event: "snapshot", data: { instances: [{ name: "east" }, { name: "west" }], recent_errors: [] } });

    s.east.enqueue({ kind: "status", status: 429, headers: { "retry-after": "20" } });
    await s.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    const changedAt = performance.now();
    const frame = (await stream.nextEvent("instance", 1000, (data) => (data as InstanceFrame).instance.name === "east")) as InstanceFrame;
    expect(performance.now() - changedAt).toBeLessThan(1000);
    expect(frame.instance.state.status).toBe("cooldown");
  });

  it("sends request errors as they settle, metrics every second, and config changes with the changed instances", async () => {
    await using s = await setup();
    await using stream = await openEventStream(`${s.proxy.url}/admin/events`, auth);
    await stream.nextEvent("snapshot");

    const missing = await fetch(`${s.proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(missing.status).toBe(404);
    const requestId = missing.headers.get("x-request-id");
    const error = await stream.nextEvent("request_error");
    expect(error).toEqual({ at: expect.any(Number), model: "no-such-model", instance: null, status: 404, code: "model_not_found", request_id: requestId });

    await s.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    const metrics = (await stream.nextEvent("metrics", 3000, (data) => {
      const east = (data as { instances: Record<string, { requests_per_s: number }> }).instances.east;
      return (east?.requests_per_s ?? 0) > 0;
    })) as { instances: Record<string, Record<string, unknown>> };
    expect(metrics.instances.east).toMatchObject({ errors: 0, error_rate: 0, in_flight: 0, utilisation: 0, latency_p50_ms: expect.any(Number) });
    expect(metrics.instances.west).toBeDefined();

    const put = await fetch(`${s.proxy.url}/admin/instances/west/config`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ weight: 4 }),
    });
    expect(put.status).toBe(200);
    const instance = (await stream.nextEvent("instance")) as { instance: { name: string; weight: number; drift: string[] } };
    expect(instance.instance).toMatchObject({ name: "west", weight: 4, drift: ["weight"] });
    expect(await stream.nextEvent("config")).toEqual({ at: expect.any(Number), reason: "override", instances: ["west"] });

    // A later subscriber's snapshot carries the recent errors.
    await using late = await openEventStream(`${s.proxy.url}/admin/events`, auth);
    const snapshot = (await late.nextEvent("snapshot")) as { recent_errors: unknown[] };
    expect(snapshot.recent_errors).toEqual([error]);
  });

  it("leaves no subscriber behind after 100 connect and disconnect cycles", async () => {
    await using s = await setup();
    const hub = s.proxy.fleet.admin.hub;
    for (let cycle = 0; cycle < 100; cycle++) {
      const stream = await openEventStream(`${s.proxy.url}/admin/events`, auth);
      await stream.nextEvent("snapshot");
      stream.close();
    }
    await until(() => hub.subscriberCount() === 0, { timeoutMs: 5000 });
    expect(hub.subscriberCount()).toBe(0);
  });

  it("keeps a browser that stops reading to a bounded backlog, dropping its oldest frames", async () => {
    await using s = await setup();
    const hub = s.proxy.fleet.admin.hub;
    // A raw connection that sends the request and then never reads: the socket's buffers fill, then our queue.
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: s.proxy.port, socket: { data() {}, drain() {} } });
    socket.write(`GET /admin/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`);
    await until(() => hub.subscriberCount() === 1);
    const big = "x".repeat(4000);
    for (let i = 0; i < 20_000; i++) {
      s.proxy.fleet.bus.publish({ type: "request_error", at: i, model: big, instance: null, status: 500, code: null, request_id: String(i) });
      // Yield now and then so the stream can pull what the socket takes.
      if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => (hub.backlog()[0]?.dropped ?? 0) > 0, { timeoutMs: 5000 });
    expect(hub.backlog()[0]!.size).toBeLessThanOrEqual(256);
    socket.end();
    await until(() => hub.subscriberCount() === 0, { timeoutMs: 5000 });
  });
});
