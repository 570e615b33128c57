// The shared conformance table (tests/fixtures/conformance.json) through the built package,
// as a front end uses it: the same answers as the gateway (tests/test_conformance.py) and
// the core (crates/core/tests/conformance.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Permissions, can } from "@portcullis/permissions";

const table = JSON.parse(
  readFileSync(new URL("../../../tests/fixtures/conformance.json", import.meta.url), "utf8"),
);

/** Whether `pattern` (dotted, `*` = any key) matches the start of the concrete `field`. */
function under(pattern, field) {
  const p = pattern.split(".");
  const f = field.split(".");
  return p.length <= f.length && p.every((s, i) => s === "*" || s === f[i]);
}

test("the table has cases for every kind of rule", () => {
  assert.ok(table.cases.length > 100);
  assert.ok(table.cases.some((c) => c.keep_only));
  assert.ok(table.malformed.some((m) => m.error.includes("trailing `/`")));
});

for (const c of table.cases) {
  test(`case ${c.id}: ${c.rule}`, () => {
    const answer = JSON.stringify({ subject: "u1", tenant: "acme", grants: c.grants });
    const p = Permissions.fromJson(answer);
    assert.equal(p.can(c.requirement), c.allow, "Permissions#can");
    assert.equal(can(c.grants, c.requirement), c.allow, "can(grants, requirement)");
    assert.equal(Permissions.fromGrants(c.grants).can(c.requirement), c.allow, "fromGrants");
    assert.deepEqual(p.hiddenFields(c.requirement) ?? null, c.hidden, "hiddenFields");
    const v = p.visibility(c.requirement);
    if (!c.allow) {
      assert.equal(v, undefined);
      assert.equal(p.isHidden(c.requirement, "id"), true);
      return;
    }
    assert.deepEqual(v, { hidden: c.hidden, keepOnly: c.keep_only ?? null, exact: c.exact ?? true });
    if (c.exact === false) return;
    for (const path of c.hidden) {
      const field = path.replaceAll("*", "anyKey");
      assert.equal(p.isHidden(c.requirement, field), true, `isHidden ${field}`);
    }
    for (const field of ["id", "source", "user.name", "user.cpf", "mother", "mother.cpf"]) {
      const expected =
        c.hidden.some((h) => under(h, field)) ||
        (c.keep_only != null && !c.keep_only.some((k) => under(k, field)));
      assert.equal(p.isHidden(c.requirement, field), expected, `isHidden ${field}`);
    }
  });
}

for (const m of table.malformed) {
  test(`malformed ${m.as} ${JSON.stringify(m.text)}: ${m.error}`, () => {
    const expected = (e) => e instanceof Error && e.message.includes(m.error);
    if (m.as === "grant") {
      assert.throws(() => can(["openid", m.text], "openid"), expected);
      assert.throws(() => Permissions.fromJson({ grants: [m.text] }), expected);
    } else {
      assert.throws(() => can(["openid"], m.text), expected);
      assert.throws(() => Permissions.fromGrants(["openid"]).hiddenFields(m.text), expected);
    }
  });
}
