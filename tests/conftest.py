"""Shared fixtures: the sample backend, Envoy gateways, tokens."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "backend"))
sys.path.insert(0, str(ROOT / "tests"))

from harness import tokens  # noqa: E402
from harness.gateway import Envoy, load_repo_config  # noqa: E402
from server import Backend  # noqa: E402


@pytest.fixture(scope="session")
def backend():
    server = Backend(0).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def demo(backend):
    """The repository's own envoy.yaml (the demo), in front of the sample backend."""
    gateway = Envoy(load_repo_config(backend.port), name="demo").start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="session")
def demo_key():
    return tokens.demo_key()


@pytest.fixture(scope="session")
def demo_token(demo_key):
    return demo_key.sign(tokens.claims())
