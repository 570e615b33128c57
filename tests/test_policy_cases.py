"""The demo's policy cases (policies/tests/, docs/policy-tests.md) against the real gateway.

`portcullis test` runs each case through the filter chain in-process (crates/cli/tests/
policy_test.rs checks they pass there); here each one is sent to the repository's own
envoy.yaml in a real Envoy, in front of the sample backend, and what the case expects must
hold there too. So a case file proves something about the gateway, not about the CLI's
model of it. Claims are signed with the demo key (the CLI signs them with a key of its
own run); `token:` cases send their token as it is.
"""

import json
import time
from pathlib import Path

import pytest
import yaml

from harness import tokens
from server import demo_answer

ROOT = Path(__file__).resolve().parents[1]
CASE_FILES = sorted((ROOT / "policies" / "tests").glob("*.yaml"))


def load_cases():
    out = []
    for path in CASE_FILES:
        for case in yaml.safe_load(path.read_text())["cases"]:
            out.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return out


CASES = load_cases()


def signed(claims, key):
    """The claims completed as `portcullis test` completes them, signed with the demo key."""
    now = int(time.time())
    full = {"iss": tokens.DEMO_ISSUER, "aud": "users", "iat": now, "exp": now + 300}
    full.update(claims)
    return key.sign(full)


def present(value, steps):
    """Whether a dotted path is in a JSON value, through arrays (as the CLI reads it)."""
    if not steps:
        return True
    if isinstance(value, list):
        return any(present(item, steps) for item in value)
    if isinstance(value, dict):
        head, rest = steps[0], steps[1:]
        if head == "*":
            return any(present(v, rest) for v in value.values())
        return head in value and present(value[head], rest)
    return False


def send(demo, case, key):
    request = case["request"]
    headers = dict(request.get("headers") or {})
    token = case.get("token")
    if case.get("claims") is not None:
        token = signed(case["claims"], key)
    kwargs = {"json": request["body"]} if "body" in request else {}
    return demo.get(request["path"], host=request["host"], token=token, headers=headers,
                    method=request.get("method", "GET"), **kwargs)


def test_the_demo_has_policy_cases():
    assert CASE_FILES, "no case file under policies/tests"
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES)
def test_the_case_holds_in_envoy(demo, backend, demo_key, case):
    expect = case["expect"]
    path = case["request"]["path"]
    before = len(backend.seen(path))
    r = send(demo, case, demo_key)
    reached = backend.seen(path)[before:]
    assert bool(reached) == expect["allow"], f"reached the backend: {bool(reached)}, got {r.status_code} {r.text}"
    if "status" in expect:
        assert r.status_code == expect["status"], r.text
    body = r.json() if r.content else None
    if "body" in expect:
        assert body == expect["body"]
    for hidden in expect.get("hidden", []):
        assert not present(body, hidden.split(".")), f"{hidden} in {body}"
    if reached:
        seen = {k.lower(): v for k, v in reached[-1]["headers"].items()}
        for name, value in (expect.get("upstream_headers") or {}).items():
            assert seen.get(name.lower()) == value, f"{name}: {seen.get(name.lower())!r}"


@pytest.mark.parametrize("case", [c for c in CASES if "response" in c.values[0]])
def test_the_case_response_is_what_the_sample_backend_answers(case):
    """The response-side stages run on the case's `response` in the CLI, and on the
    backend's real answer in Envoy: they must be the same for the two runs to compare."""
    request = case["request"]
    status, _, payload = demo_answer(request.get("method", "GET"), request["path"], {})
    assert status == case["response"].get("status", 200)
    assert json.loads(payload) == case["response"]["body"]
