import { describe, expect, it } from "bun:test";
import { parseReserveReply } from "../../server/limiter/redis-store.ts";
import type { ReserveCommand } from "../../server/limiter/store.ts";

const command: ReserveCommand = {
  client: { key: "{limiter}:client:a", limits: { tokenLimit: 1000, requestLimit: 10 } },
  instances: [{ key: "{limiter}:instance:east", limits: { tokenLimit: 5000, requestLimit: null } }],
  tokens: 100,
};

describe("reserve script reply", () => {
  it("reads the comma-joined integers the script returns", () => {
    expect(parseReserveReply("1,1,1700000000123,1700000000,0,0,100,1,1700000000,100,1,1700000000,0", command)).toEqual({
      ok: true,
      chosen: 0,
      bucket: 1700000000,
      nowMs: 1700000000123,
      client: { tokens: 100, requests: 1, last: 1700000000 },
      instances: [{ tokens: 100, requests: 1, last: 1700000000, retryAfterMs: 0 }],
    });
  });

  it("reads a refusal with an unreachable retry as Infinity", () => {
    expect(parseReserveReply("0,0,5000,5,-1,2,0,0,-1,0,0,-1,-1", command)).toMatchObject({ ok: false, blockedBy: "instance", retryAfterMs: Infinity });
  });

  it("fails loudly on anything else", () => {
    expect(() => parseReserveReply("1,1,x,1,0,0,0,0,0", command)).toThrow("unexpected limiter script reply");
    expect(() => parseReserveReply("1,2", command)).toThrow("unexpected limiter script reply");
    expect(() => parseReserveReply(null, command)).toThrow("unexpected limiter script reply");
  });
});
