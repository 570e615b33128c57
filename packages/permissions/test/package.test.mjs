// The package as shipped: both entry points (ESM and CommonJS) in Node, the browser build
// loaded in Node, its TypeScript declarations, and bad input as thrown Errors, never traps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import init, { Permissions, can, initSync } from "@portcullis/permissions";

const require = createRequire(import.meta.url);
const pkg = new URL("../", import.meta.url);

// The demo user's answer, as the gateway's authorization filter writes it.
const DEMO = JSON.stringify({
  subject: "u1",
  tenant: "acme",
  grants: [
    "contract:one:read::!{user.cpf,mother}",
    "contract:all:read::!{user.cpf,mother}",
    "br.com.chaordic.cockpit/sales/customerServices/*",
  ],
});

test("the demo user's permissions", () => {
  const p = Permissions.fromJson(DEMO);
  assert.equal(p.subject, "u1");
  assert.equal(p.tenant, "acme");
  assert.equal(p.grants.length, 3);
  assert.equal(p.can("contract:one:read"), true);
  assert.equal(p.can("contract:all:read"), true);
  assert.equal(p.can("br.com.chaordic.cockpit/finance/reports"), false);
  assert.equal(p.can("br.com.chaordic.cockpit/sales/customerServices/stockout"), true);
  assert.deepEqual(p.hiddenFields("contract:one:read"), ["mother", "user.cpf"]);
  assert.deepEqual(p.hiddenFields("br.com.chaordic.cockpit/sales/customerServices/stockout"), []);
  assert.equal(p.hiddenFields("br.com.chaordic.cockpit/finance/reports"), undefined);
  assert.equal(p.isHidden("contract:one:read", "mother"), true);
  assert.equal(p.isHidden("contract:one:read", "user.name"), false);
  p.free();
});

test("the ESM and CommonJS entries are the same package", async () => {
  await init(); // a no-op in Node, for code shared with the browser build
  initSync();
  const cjs = require("@portcullis/permissions");
  assert.equal(typeof cjs.Permissions.fromJson, "function");
  assert.equal(cjs.can(["contract:*"], "contract:one:read"), true);
  assert.equal(can(["contract:*"], "contracts:one:read"), false);
  const viaNode = await import("@portcullis/permissions/node");
  assert.equal(viaNode.can, can);
});

test("the browser build works when given its .wasm", async () => {
  const web = await import("@portcullis/permissions/web");
  const bytes = readFileSync(new URL("web/portcullis_permissions_bg.wasm", pkg));
  web.initSync({ module: bytes });
  const p = web.Permissions.fromJson(DEMO);
  assert.deepEqual(p.hiddenFields("contract:all:read"), ["mother", "user.cpf"]);
  assert.equal(web.can(["app/inventory/locations*"], "app/inventory/locations/1"), true);
  assert.throws(() => web.can(["app/sales/"], "app/sales/x"), /trailing `\/`/);
});

test("package.json exports resolve to built files with declarations", () => {
  const manifest = JSON.parse(readFileSync(new URL("package.json", pkg), "utf8"));
  assert.equal(manifest.name, "@portcullis/permissions");
  for (const file of [
    "index.node.mjs",
    "index.node.d.mts",
    "node/portcullis_permissions.js",
    "node/portcullis_permissions.d.ts",
    "node/portcullis_permissions_bg.wasm",
    "web/portcullis_permissions.js",
    "web/portcullis_permissions.d.ts",
    "web/portcullis_permissions_bg.wasm",
  ]) {
    assert.ok(readFileSync(new URL(file, pkg)).length > 0, file);
  }
  const dts = readFileSync(new URL("web/portcullis_permissions.d.ts", pkg), "utf8");
  assert.match(dts, /static fromJson\(answer: string \| PermissionsAnswer\): Permissions;/);
  assert.match(dts, /can\(requirement: string\): boolean;/);
  assert.match(dts, /hiddenFields\(requirement: string\): string\[\] \| undefined;/);
  assert.match(dts, /visibility\(requirement: string\): FieldVisibility \| undefined;/);
  assert.match(dts, /export function can\(grants: string\[\], requirement: string\): boolean;/);
  assert.match(dts, /\* The dotted paths the gateway removes from a response/);
  assert.match(dts, /export default function __wbg_init/);
});

test("bad input throws an Error with a clear message", () => {
  const cases = [
    [() => Permissions.fromJson("not json"), /^permissions answer is not JSON: /],
    [() => Permissions.fromJson(""), /^permissions answer is not JSON: /],
    [() => Permissions.fromJson("[]"), /^permissions answer must be a JSON object, got an array$/],
    [() => Permissions.fromJson('{"subject":"u1"}'), /^permissions answer: no `grants` member$/],
    [() => Permissions.fromJson('{"grants":"contract:*"}'), /`grants` must be an array of strings, got a string/],
    [() => Permissions.fromJson(42), /must be a JSON string or object, got number/],
    [() => Permissions.fromJson(), /got undefined/],
    [() => Permissions.fromJson('{"grants":["contract::read"]}'), /^grant `contract::read`: empty segment$/],
    [() => can("contract:*", "contract:one:read"), /^grants must be an array of strings, got string$/],
    [() => can(["contract:*", null], "contract:one:read"), /^grants\[1\] must be a string, got null$/],
    [() => can(["*"], "contract:one:read"), /a lone `\*` is not allowed/],
    [() => can(["contract:*"], "contract:*"), /^requirement `contract:\*`: a requirement cannot contain `\*`$/],
    [() => can(["contract:*"], 7), /^requirement must be a string, got number$/],
    [() => can(["app/*"], "app/sales/"), /trailing `\/` is ambiguous/],
    [() => Permissions.fromJson(DEMO).isHidden("contract:one:read", "a..b"), /^field path `a..b`: empty segment$/],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, (e) => {
      assert.ok(e instanceof Error, "an Error");
      assert.ok(!(e instanceof WebAssembly.RuntimeError), `a trap: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

test("inputs deep enough to overflow a stack are refused, and the module keeps working", () => {
  const deep = Array(100000).fill("a").join("/");
  const stars = Array(100000).fill("*").join("/");
  assert.throws(() => can([deep, stars], deep), /^Error: requirement of 100000 segments: at most 256 are accepted$/);
  const p = Permissions.fromGrants([deep, stars, "a/*"]);
  assert.equal(p.can(Array(256).fill("a").join("/")), true);
  assert.throws(() => p.isHidden(deep, "x"), /at most 256/);
  assert.throws(() => Permissions.fromJson("[".repeat(200000) + "]".repeat(200000)), /^Error: permissions answer/);
  assert.equal(Permissions.fromJson(DEMO).can("contract:one:read"), true);
});

test("random input never traps", () => {
  const alphabet = ["a", "b", "/", ":", "*", "::", "!", "{", "}", "<", ">", ",", ".", " ", "é", "\u0000", "\"", "[", "]", "1"];
  let seed = 12345;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const text = () => Array.from({ length: rand(12) }, () => alphabet[rand(alphabet.length)]).join("");
  const p = Permissions.fromJson(DEMO);
  for (let i = 0; i < 5000; i++) {
    for (const call of [
      () => can([text(), text()], text()),
      () => p.can(text()),
      () => p.hiddenFields(text()),
      () => p.isHidden("contract:one:read", text()),
      () => Permissions.fromJson(text()),
      () => Permissions.fromJson(`{"grants":["${text()}"]}`),
    ]) {
      try {
        call();
      } catch (e) {
        assert.ok(e instanceof Error && !(e instanceof WebAssembly.RuntimeError), `trap: ${e}`);
      }
    }
  }
  assert.equal(p.can("contract:one:read"), true, "still answers");
});
