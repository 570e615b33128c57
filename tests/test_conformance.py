"""The shared conformance table (tests/fixtures/conformance.json) through the real gateway
(issue 14): one Envoy with the JWT, authorization and redaction filters, one route per case
(route metadata `requirement`), one token per case whose `scopes` claim holds the case's
grants. The gateway's 200/403 must agree with the table's `allow`, case by case, and the
fields it removes with the table's `hidden`/`keep_only`. The same table is read by the core's
tests (crates/core/tests/conformance.rs) and the JavaScript package's (packages/permissions),
and the last test feeds the gateway's own permissions answer to the built package and checks
that the front end would decide exactly as the gateway did.
"""

import json
import re
import subprocess

import pytest

from harness import tokens
from harness.gateway import ROOT, Envoy, bootstrap, route, wasm_filter

TABLE = json.loads((ROOT / "tests" / "fixtures" / "conformance.json").read_text())
CASES = TABLE["cases"]
# Malformed grants the gateway must ignore when a token carries them (403 on `near`), and
# malformed requirements it must refuse to evaluate (500, never a decision).
NEAR = [m for m in TABLE["malformed"] if m["as"] == "grant" and m.get("near")]
BAD_REQUIREMENTS = [m for m in TABLE["malformed"] if m["as"] == "requirement" and m["text"].strip()]

DEMO_CONTRACT = {
    "id": "123-456", "contractOwner": "demostore", "source": "adwords",
    "user": {"name": "Usuário", "cpf": "000.000.370.00", "rendaMensal": 15000},
    "mother": {"name": "Mãe", "cpf": "000.000.370.00", "rendaMensal": 15000},
}
FILTER = re.compile(r"::(!?)[{<]([^}>]*)[}>]\s*$")


def case_path(i):
    return f"/conformance/case/{i}"


def filter_paths(text):
    """The dotted paths of a permission's field filter, if any."""
    m = FILTER.search(text)
    return [p.strip() for p in m.group(2).split(",")] if m else []


def body(case):
    """The case's response body: the demo contract plus every path the case names (`*` as a
    key of its own), with a sibling key next to each (as crates/core/tests/conformance.rs)."""
    doc = json.loads(json.dumps(DEMO_CONTRACT))
    paths = list(case["hidden"] or []) + list(case.get("keep_only") or [])
    for text in case["grants"] + [case["requirement"]]:
        paths += filter_paths(text)
    for path in paths:
        node = doc
        parent, key = None, None
        for segment in path.split("."):
            if not isinstance(node, dict):
                node = {}
                parent[key] = node
            node.setdefault("siblingKey", 1)
            key = "anyKey" if segment == "*" else segment
            node.setdefault(key, "leaf")
            parent, node = node, node[key]
    return doc


def leaves(value, prefix=()):
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            out |= leaves(v, prefix + (k,))
        return out
    return {".".join(prefix)}


def under(pattern, field):
    p, f = pattern.split("."), field.split(".")
    return len(p) <= len(f) and all(a == "*" or a == b for a, b in zip(p, f))


def table_hides(case, field):
    keep = case.get("keep_only")
    return any(under(h, field) for h in case["hidden"]) or (keep is not None and not any(under(k, field) for k in keep))


ROUTES = (
    [route("permissions", "/.well-known/permissions", "GET: authenticated")]
    + [route(f"case-{i}", case_path(i), f"GET: {c['requirement']}") for i, c in enumerate(CASES)]
    + [route(f"near-{i}", f"/conformance/near/{i}", f"GET: {m['near']}") for i, m in enumerate(NEAR)]
    + [route(f"bad-{i}", f"/conformance/bad/{i}", f"GET: {m['text']}") for i, m in enumerate(BAD_REQUIREMENTS)]
)


@pytest.fixture(scope="module")
def gw(backend, demo_key):
    jwt = {"providers": [{"name": "demo", "issuer": tokens.DEMO_ISSUER, "audiences": ["users"],
                          "algorithms": ["RS256"], "jwks": {"keys": [demo_key.jwk()]}}]}
    authz = {"scopes_claim": "scopes", "roles_claim": "roles", "groups_claim": "groups",
             "permissions_path": "/.well-known/permissions"}
    filters = [wasm_filter("portcullis_jwt", jwt), wasm_filter("portcullis_authz", authz),
               wasm_filter("portcullis_redact", {"max_body_bytes": 1048576})]
    for i, case in enumerate(CASES):
        payload = json.dumps(body(case), ensure_ascii=False).encode()
        backend.overrides[case_path(i)] = (200, {"content-type": "application/json"}, payload)
    try:
        with Envoy(bootstrap(filters, ROUTES, backend.port), name="conformance") as envoy:
            yield envoy
    finally:
        for i in range(len(CASES)):
            backend.overrides.pop(case_path(i), None)


@pytest.fixture(scope="module")
def answers(gw, demo_key):
    """Per case: the token, the gateway's status and body on the case's route."""
    out = []
    for i, case in enumerate(CASES):
        token = demo_key.sign(tokens.claims(scopes=case["grants"], roles=None))
        r = gw.get(case_path(i), token=token)
        out.append({"token": token, "status": r.status_code, "body": r.content})
    return out


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c["id"] for c in CASES])
def test_the_gateway_decides_as_the_table_says(answers, i):
    case, got = CASES[i], answers[i]
    assert got["status"] == (200 if case["allow"] else 403), (case, got["body"][:300])


@pytest.mark.parametrize("i", [i for i, c in enumerate(CASES) if c["allow"]],
                         ids=[c["id"] for c in CASES if c["allow"]])
def test_the_gateway_removes_the_tables_hidden_fields(answers, i):
    case = CASES[i]
    sent = leaves(body(case))
    removed = sent - leaves(json.loads(answers[i]["body"]))
    said = {f for f in sent if table_hides(case, f)}
    if case.get("exact", True):
        assert removed == said, case
    else:
        assert said <= removed, case


@pytest.mark.parametrize("i", range(len(NEAR)), ids=[m["id"] for m in NEAR])
def test_a_malformed_token_grant_grants_nothing(gw, demo_key, i):
    m = NEAR[i]
    token = demo_key.sign(tokens.claims(scopes=[m["text"]], roles=None))
    assert gw.get(f"/conformance/near/{i}", token=token).status_code == 403


@pytest.mark.parametrize("i", range(len(BAD_REQUIREMENTS)), ids=[m["id"] for m in BAD_REQUIREMENTS])
def test_a_malformed_route_requirement_is_never_a_decision(gw, demo_key, i):
    token = demo_key.sign(tokens.claims(scopes=["*:*", "app/*"], roles=None))
    assert gw.get(f"/conformance/bad/{i}", token=token).status_code == 500


NODE_CHECK = r"""
import { readFileSync } from "node:fs";
import { Permissions } from "@portcullis/permissions";
const out = JSON.parse(readFileSync(0, "utf8")).map(({ answer, requirement, fields }) => {
  const p = Permissions.fromJson(answer);
  return {
    can: p.can(requirement),
    hidden: p.hiddenFields(requirement) ?? null,
    isHidden: Object.fromEntries(fields.map((f) => [f, p.isHidden(requirement, f)])),
  };
});
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="session")
def js_package():
    """The built @portcullis/permissions (`make js`: incremental, compiles wasm-bindgen-cli
    into .tools/ on first use)."""
    subprocess.run(["make", "-s", "js"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return ROOT / "packages" / "permissions"


def test_the_package_fed_the_gateways_permissions_answer_decides_as_the_gateway(gw, answers, js_package):
    items = []
    for i, case in enumerate(CASES):
        r = gw.get("/.well-known/permissions", token=answers[i]["token"])
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        items.append({"answer": r.text, "requirement": case["requirement"], "fields": sorted(leaves(body(case)))})
    run = subprocess.run(["node", "--input-type=module", "-e", NODE_CHECK], cwd=js_package,
                         input=json.dumps(items), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    decided = json.loads(run.stdout)
    for i, (case, js) in enumerate(zip(CASES, decided)):
        status = answers[i]["status"]
        assert js["can"] == (status == 200), (case["id"], status)
        assert js["hidden"] == case["hidden"], case["id"]
        if status != 200:
            continue
        shown = leaves(json.loads(answers[i]["body"]))
        for field, hidden in js["isHidden"].items():
            assert hidden == (field not in shown), (case["id"], field)
