"""The demo contract (SPEC section 10) through the repository's own envoy.yaml; the same
checks run against the containerised demo in tests/test_compose_run.py."""

import pytest

from harness import demo_contract, tokens


@pytest.mark.parametrize("check", demo_contract.CHECKS, ids=demo_contract.check_id)
def test_demo_contract(demo, demo_key, check):
    check(demo, demo_key)


def test_make_token_style_token_from_the_demo_key_is_accepted(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles="ATENDIMENTO", scopes="br.com.chaordic.cockpit/sales/customerServices/*"))
    assert demo.get("/whoami", token=token).status_code == 200
