"""ECDS: the filters of `portcullis render ecds` take their configuration from watched
files, and a policy change reaches a running Envoy without a restart, a dropped request
or a request allowed after Envoy acknowledged the change.

The bundle is rendered by the CLI into a temporary folder from copies of gateway.yaml and
policies/; pushing a new role table is rendering again (the CLI writes each file by
renaming a finished temporary file into place: the move Envoy's `watched_directory`
reacts to). Envoy acknowledges an update in its admin stats,
`extension_config_discovery.http_filter.<name>.config_reload` when applied and
`.update_rejected` when refused (the last good configuration then stays). See docs/ecds.md.
"""

import os
import re
import shutil
import subprocess
import threading
import time

import pytest
import requests
import yaml

from harness.gateway import ENVOY, ROOT, Envoy

CLI = ROOT / "target" / "release" / "portcullis"
FIXTURES = ROOT / "tests" / "fixtures" / "ecds"
FILTER = "portcullis"  # the one filter: every stage in one ECDS resource
CONTRACT = "/accounts/demostore/contracts/123-456"
HOST = "acme.localhost"
CLIENTS = 4
BEFORE_PUSH = 50  # requests answered, in all, before the update is pushed
AFTER_ACK = 100  # requests each client sends after the acknowledgement was seen
DEADLINE = 30  # seconds any wait may take


def render(source, out):
    run = subprocess.run(
        [CLI, "render", "ecds", "--gateway", source / "gateway.yaml", "--out-dir", out],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stderr


def push_roles(source, out, roles):
    """A new role table, pushed the way an operator does: edit the source, render."""
    shutil.copy(roles, source / "policies" / "roles.yaml")
    render(source, out)


@pytest.fixture
def bundle(tmp_path):
    """(sources, bundle folder): copies of gateway.yaml and policies/, rendered."""
    source = tmp_path / "source"
    (source / "policies").mkdir(parents=True)
    shutil.copy(ROOT / "gateway.yaml", source / "gateway.yaml")
    shutil.copy(ROOT / "policies" / "roles.yaml", source / "policies" / "roles.yaml")
    out = tmp_path / "ecds"
    render(source, out)
    return source, out


@pytest.fixture
def gateway(bundle, backend):
    """Envoy running the rendered bootstrap, in front of the sample backend."""
    config = yaml.safe_load((bundle[1] / "envoy.yaml").read_text())
    for cluster in config["static_resources"]["clusters"]:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        endpoint["address"]["socket_address"]["port_value"] = backend.port
    # Two workers: an update is acknowledged only once every worker has switched to it.
    envoy = Envoy(config, name="ecds", concurrency=2)
    try:
        envoy.start()
        yield envoy
    finally:
        envoy.stop()


def ecds_stats(envoy, name=FILTER):
    """The filter's `extension_config_discovery` stats, by short name."""
    prefix = f"extension_config_discovery.http_filter.{name}."
    text = requests.get(f"http://127.0.0.1:{envoy.admin_port}/stats",
                        params={"filter": "^" + re.escape(prefix)}, timeout=5).text
    stats = {}
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key.startswith(prefix):
            stats[key[len(prefix):]] = value.strip().strip('"')
    return stats


def wait_for(envoy, condition, what):
    """Polls the filter's stats until `condition(stats)`; returns the monotonic
    time it was seen to hold."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        stats = ecds_stats(envoy)
        if condition(stats):
            return time.monotonic()
        time.sleep(0.01)
    raise AssertionError(f"{what}: not seen after {DEADLINE}s: {stats}\n{envoy.logs()[-3000:]}")


def wait_for_applied(envoy, out, before):
    """Waits until the configuration now in `out` is live on every worker: Envoy
    accepted it (`version_text` is its `version_info`) and the workers took it
    (`config_reload` grew: Envoy counts it once every worker has the new configuration;
    a rejection also counts, hence the version and `update_rejected` checks)."""
    version = yaml.safe_load((out / "config" / f"{FILTER}.yaml").read_text())["version_info"]
    return wait_for(envoy, lambda s: s["version_text"] == version
                    and int(s["config_reload"]) > int(before["config_reload"])
                    and s["update_rejected"] == before["update_rejected"],
                    f"{FILTER} {version} applied")


def get(envoy, path, token):
    return envoy.get(path, host=HOST, token=token)


class Load:
    """Client threads, each on its own keep-alive session, reading the contract until
    each has sent AFTER_ACK requests after `ack` was set. Records (sent at, status or
    error name)."""

    def __init__(self, envoy, token):
        self.url = envoy.url(CONTRACT)
        self.headers = {"host": HOST, "authorization": f"Bearer {token}"}
        self.results = []
        self.lock = threading.Lock()
        self.ack = None
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(CLIENTS)]

    def client(self):
        after = 0
        with requests.Session() as session:
            while after < AFTER_ACK and not self.stop.is_set():
                sent = time.monotonic()
                try:
                    outcome = session.get(self.url, headers=self.headers, timeout=10).status_code
                except requests.RequestException as error:
                    outcome = type(error).__name__
                with self.lock:
                    self.results.append((sent, outcome))
                if self.ack is not None and sent > self.ack:
                    after += 1

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.stop.set()
        for thread in self.threads:
            thread.join(DEADLINE)
        self.stop.set()

    def answered(self):
        with self.lock:
            return len(self.results)


def test_a_grant_removed_under_load_fails_no_request_and_allows_none_after_the_acknowledgement(
        bundle, gateway, demo_token, capsys):
    source, out = bundle
    assert get(gateway, CONTRACT, demo_token).status_code == 200
    before = ecds_stats(gateway)
    started = time.monotonic()
    with Load(gateway, demo_token) as load:
        deadline = time.monotonic() + DEADLINE
        while load.answered() < BEFORE_PUSH and time.monotonic() < deadline:
            time.sleep(0.01)
        pushed = time.monotonic()
        push_roles(source, out, FIXTURES / "roles-without-contract-one.yaml")
        load.ack = wait_for_applied(gateway, out, before)
    results = load.results
    failed = [(t - pushed, o) for t, o in results if o not in (200, 403) or (o == 403 and t < pushed)]
    wrongly_allowed = [t - load.ack for t, o in results if o == 200 and t > load.ack]
    between = [o for t, o in results if pushed <= t <= load.ack]
    summary = (f"ECDS under load: {len(results)} requests from {CLIENTS} clients in "
               f"{time.monotonic() - started:.2f}s; update acknowledged "
               f"{(load.ack - pushed) * 1000:.0f} ms after the push, {len(between)} sent "
               f"meanwhile ({between.count(200)} allowed, {between.count(403)} denied), "
               f"{sum(1 for t, _ in results if t > load.ack)} after; "
               f"failed: {len(failed)}; wrongly allowed: {len(wrongly_allowed)}")
    with capsys.disabled():  # shown in `make test`'s output, not only on failure
        print(f"\n{summary}")
    assert sum(1 for t, _ in results if t < pushed) >= BEFORE_PUSH, summary
    assert not failed, f"{summary}; (seconds after push, outcome): {failed[:10]}"
    assert not wrongly_allowed, f"{summary}; seconds after ack: {wrongly_allowed[:10]}"


def write_replacing(path, text):
    """The ECDS update procedure: a finished file in the watched folder, renamed over
    the old one (writing in place is ignored by Envoy)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def test_an_invalid_update_is_refused_naming_the_field_and_the_last_good_one_keeps_serving(
        bundle, gateway, demo_token):
    source, out = bundle
    before = ecds_stats(gateway)
    push_roles(source, out, FIXTURES / "roles-without-contract-one.yaml")
    wait_for_applied(gateway, out, before)
    assert get(gateway, CONTRACT, demo_token).status_code == 403
    good = ecds_stats(gateway)

    path = out / "config" / f"{FILTER}.yaml"
    response = yaml.safe_load(path.read_text())
    wasm = response["resources"][0]["typed_config"]["config"]
    wasm["configuration"]["value"] = wasm["configuration"]["value"].replace(
        '"roles_claim"', '"role_claim"')  # a typo: an unknown field
    response["version_info"] = "typo"
    write_replacing(path, yaml.safe_dump(response, sort_keys=False))
    wait_for(gateway, lambda s: int(s["update_rejected"]) > int(good["update_rejected"]),
             "update_rejected")

    refused = [line for line in gateway.logs().splitlines() if "configuration rejected" in line]
    assert any("unknown field `role_claim`" in line for line in refused), refused
    assert ecds_stats(gateway)["version_text"] == good["version_text"]
    assert get(gateway, CONTRACT, demo_token).status_code == 403
    assert get(gateway, "/whoami", demo_token).status_code == 200


def test_committed_bootstrap_passes_envoy_validate_mode():
    # Validate mode checks the bootstrap and that each ECDS file exists, not the files'
    # contents: those are loaded by a real Envoy in the tests above.
    run = subprocess.run([ENVOY, "--mode", "validate", "-c", "deploy/ecds/envoy.yaml"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
