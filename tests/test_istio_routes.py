"""Route names are not namespaced on an Istio ingress gateway: a route table entry naming
its VirtualService (`istio_virtual_service`, as `portcullis render istio` writes) applies
only to routes whose `istio.config` metadata (set by Istio on every route it makes) says
they come from that VirtualService. Through a real Envoy, with routes carrying the
metadata Istio would give them."""

import pytest

from harness.gateway import Envoy, bootstrap, route, wasm_filter

OURS = "/apis/networking.istio.io/v1/namespaces/portcullis/virtual-service/portcullis-demo"
THEIRS = "/apis/networking.istio.io/v1/namespaces/intruder/virtual-service/portcullis-demo"


def istio_route(name, path, config):
    entry = route(name, path)
    entry["metadata"] = {"filter_metadata": {"istio": {"config": config}}}
    return entry


@pytest.fixture(scope="module")
def gw(backend):
    authz = {
        "scopes_claim": "scopes",
        "routes": {"public-health": {"requirement": "GET: public",
                                     "istio_virtual_service": "portcullis/portcullis-demo"}},
    }
    routes = [
        istio_route("public-health", "/public/health", OURS),
        # Another namespace's VirtualService, bound to the same gateway, reusing the name.
        istio_route("public-health", "/accounts/demostore/contracts/123-456", THEIRS),
    ]
    with Envoy(bootstrap([wasm_filter("portcullis_authz", authz)], routes, backend.port),
               name="istio-routes") as envoy:
        yield envoy


def test_the_route_of_the_named_virtual_service_gets_its_settings(gw):
    assert gw.get("/public/health").status_code == 200


def test_a_same_named_route_of_another_namespace_is_refused_and_never_reaches_the_backend(gw, backend):
    before = len(backend.seen("/accounts/demostore/contracts/123-456"))
    r = gw.get("/accounts/demostore/contracts/123-456")
    assert r.status_code == 403
    assert r.json()["error"] == "no_requirement"
    assert len(backend.seen("/accounts/demostore/contracts/123-456")) == before
