// `make bench-js` (or `node bench/can.mjs` in packages/permissions after `make js`): the
// package's .wasm size and how many decisions per second it makes in Node, each call
// crossing the JS/Wasm boundary with its strings.
import { readFileSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { Permissions, can } from "@portcullis/permissions";

const wasm = new URL("../node/portcullis_permissions_bg.wasm", import.meta.url);
const bytes = statSync(wasm).size;
const gz = gzipSync(readFileSync(wasm), { level: 9 }).length;

const DEMO = {
  subject: "u1",
  tenant: "acme",
  grants: [
    "contract:one:read::!{user.cpf,mother}",
    "contract:all:read::!{user.cpf,mother}",
    "br.com.chaordic.cockpit/sales/customerServices/*",
  ],
};
const many = [...DEMO.grants];
for (let i = 0; i < 1000; i++) many.push(`app${i}/module${i % 17}/feature${i}/*`, `domain${i}:*:read`);

/** Calls per second of `fn`: the best of five 300 ms rounds (other load only slows down). */
function rate(label, fn) {
  for (let i = 0; i < 20000; i++) fn(i); // warm up
  let best = 0;
  for (let round = 0; round < 5; round++) {
    let calls = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0n;
    while (elapsed < 300_000_000n) {
      for (let i = 0; i < 5000; i++) fn(i);
      calls += 5000;
      elapsed = process.hrtime.bigint() - start;
    }
    best = Math.max(best, (calls * 1e9) / Number(elapsed));
  }
  console.log(`${label.padEnd(62)} ${Math.round(best).toLocaleString("en-US").padStart(12)} /s`);
  return best;
}

const demo = Permissions.fromJson(JSON.stringify(DEMO));
const big = Permissions.fromGrants(many);
console.log(`node ${process.version}; .wasm ${bytes.toLocaleString("en-US")} bytes (${gz.toLocaleString("en-US")} gzipped)`);
rate("p.can(\"contract:one:read\")  granted, 3 grants", () => demo.can("contract:one:read"));
rate("p.can(\".../finance/reports\")  denied, 3 grants", () => demo.can("br.com.chaordic.cockpit/finance/reports"));
rate("p.can(\".../customerServices/stockout\")  granted by a *", () =>
  demo.can("br.com.chaordic.cockpit/sales/customerServices/stockout"));
rate("p.can(\"domain500:x:read\")  granted, 2,003 grants", () => big.can("domain500:x:read"));
rate("p.can(\"app9/x/y\")  denied, 2,003 grants", () => big.can("app9/x/y"));
rate("p.hiddenFields(\"contract:one:read\")", () => demo.hiddenFields("contract:one:read"));
rate("p.isHidden(\"contract:one:read\", \"mother\")", () => demo.isHidden("contract:one:read", "mother"));
rate("can(grants, \"contract:one:read\")  compiles 3 grants per call", () => can(DEMO.grants, "contract:one:read"));
rate("Permissions.fromJson(demo answer)", () => Permissions.fromJson(JSON.stringify(DEMO)).free());
