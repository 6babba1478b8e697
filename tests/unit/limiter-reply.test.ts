import { describe, expect, it } from "bun:test";
import { packReserveBatch, parseReserveReplies } from "../../server/limiter/redis-store.ts";
import type { ReserveCommand } from "../../server/limiter/store.ts";

const command: ReserveCommand = {
  client: { key: "{limiter}:client:a", limits: { tokenLimit: 1000, requestLimit: 10 } },
  instances: [{ key: "{limiter}:instance:east", limits: { tokenLimit: 5000, requestLimit: null } }],
  tokens: 100,
};

describe("reserve script reply", () => {
  it("reads the comma-joined integers the script returns", () => {
    expect(parseReserveReplies("1,1,1700000000123,1700000000,0,0,100,1,1700000000,100,1,1700000000,0", [command])).toEqual([
      {
        ok: true,
        chosen: 0,
        bucket: 1700000000,
        nowMs: 1700000000123,
        client: { tokens: 100, requests: 1, last: 1700000000 },
        instances: [{ tokens: 100, requests: 1, last: 1700000000, retryAfterMs: 0 }],
      },
    ]);
  });

  it("reads a refusal with an unreachable retry as Infinity", () => {
    expect(parseReserveReplies("0,0,5000,5,-1,2,0,0,-1,0,0,-1,-1", [command])).toMatchObject([
      { ok: false, blockedBy: "instance", retryAfterMs: Infinity, instances: [{ last: -1, retryAfterMs: Infinity }] },
    ]);
  });

  it("gives each reservation of a batch its own part, in order, and leaves out a client without limits", () => {
    const anonymous: ReserveCommand = { client: null, instances: [command.instances[0]!, command.instances[0]!], tokens: 5 };
    const replies = parseReserveReplies("1,1,9000,9,0,0,7,1,9,7,1,9,0;0,0,9000,9,1250,2,0,0,-1,50,2,8,1250,60,3,9,-1", [command, anonymous]);
    expect(replies).toEqual([
      { ok: true, chosen: 0, bucket: 9, nowMs: 9000, client: { tokens: 7, requests: 1, last: 9 }, instances: [{ tokens: 7, requests: 1, last: 9, retryAfterMs: 0 }] },
      {
        ok: false,
        blockedBy: "instance",
        retryAfterMs: 1250,
        nowMs: 9000,
        client: null,
        instances: [
          { tokens: 50, requests: 2, last: 8, retryAfterMs: 1250 },
          { tokens: 60, requests: 3, last: 9, retryAfterMs: Infinity },
        ],
      },
    ]);
  });

  it("fails loudly on anything else", () => {
    const full = "1,1,5,1,0,0,0,0,0";
    for (const reply of ["1,1,x,1,0,0,0,0,0", "1,2", "", "1,1,5,1,0,0,0,0,", "1,1,5,1,0,0,0,0,-", "1,1,5,1,0,0,0,0,--1", "1,1,5,1,0,0,0,0,0,1", `${full};${full}`, null, 7]) {
      expect(() => parseReserveReplies(reply, [command])).toThrow("unexpected limiter script reply");
    }
    expect(() => parseReserveReplies(full, [command, command])).toThrow("unexpected limiter script reply");
    expect(parseReserveReplies(full, [command])).toHaveLength(1);
  });
});

describe("reserve script arguments", () => {
  it("names each key once and packs every reservation's numbers into one string, key places counted from 1", () => {
    const west = { key: "{limiter}:instance:west", limits: { tokenLimit: null, requestLimit: 60 } };
    const unlimitedClient = { key: "{limiter}:client:b", limits: { tokenLimit: null, requestLimit: null } };
    const batch: ReserveCommand[] = [
      command,
      { client: unlimitedClient, instances: [command.instances[0]!, west], tokens: 7.2 },
      { client: null, instances: [west], tokens: 0 },
    ];
    expect(packReserveBatch(batch)).toEqual({
      keys: ["{limiter}:client:a", "{limiter}:instance:east", "{limiter}:instance:west"],
      // instance_count, tokens, client key place, client tpm, client rpm, then per instance: key place, tpm, rpm.
      packed: ["1,100,1,1000,10,2,5000,0", "2,8,0,0,0,2,5000,0,3,0,60", "1,0,0,0,0,3,0,60"].join(","),
    });
  });
});
