"""deploy/compose/ run in containers (podman-compose on podman, `make images`), as a user
runs it: the demo contract (SPEC section 10) through the containerised gateway.

The project starts once for the module under its own name and free host ports, is ready
when both services pass their Compose healthchecks and the gateway answers, and is torn
down afterwards, also when a check fails. tests/test_compose.py checks the file itself.
"""

import pytest
import requests

from harness import demo_contract
from harness.compose import ComposeProject, images, podman


@pytest.fixture(scope="module")
def project():
    project = ComposeProject()
    try:
        project.up().wait_ready()
        yield project
    finally:
        leftovers = project.down()
        assert not leftovers, f"left after podman-compose down: {leftovers}"


@pytest.mark.parametrize("check", demo_contract.CHECKS, ids=demo_contract.check_id)
def test_demo_contract_through_the_containerised_gateway(project, demo_key, check):
    check(project, demo_key)


def test_containerised_envoy_is_the_envoy_release_the_tests_run(project):
    info = requests.get(f"http://127.0.0.1:{project.admin_port}/server_info", timeout=5).json()
    assert f"/{images.envoy_version()}/" in info["version"], info["version"]


def test_gateway_ports_are_published_on_loopback_only(project):
    published = podman("port", project.container("envoy")["id"]).stdout.split("\n")
    published = sorted(line.strip() for line in published if line.strip())
    assert published == sorted([f"10000/tcp -> 127.0.0.1:{project.port}", f"9901/tcp -> 127.0.0.1:{project.admin_port}"])
