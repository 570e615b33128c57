"""deploy/compose/ run in containers by podman-compose (podman, runc), as a user runs it.

A `ComposeProject` is one run of the Compose project under its own name
(`portcullis-test-...`), with the local images of `make images` and free host ports on
127.0.0.1. `down()` removes what it created (containers, the project network) and only
that: everything is found by the project's name, never by a pattern.
"""

import importlib.util
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import requests

from harness.gateway import Client, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
PODMAN_COMPOSE = ROOT / ".venv" / "bin" / "podman-compose"
SERVICES = ("backend", "envoy")


def _load_images_module():
    """images/build.py (`make images`): the image names and podman's settings."""
    spec = importlib.util.spec_from_file_location("portcullis_images", ROOT / "images" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


images = _load_images_module()


def podman(*args, timeout=60, check=True):
    run = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                         check=False, env=images.podman_env())
    if check and run.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    return run


def missing_images():
    return [ref for ref in images.images().values() if podman("image", "exists", ref, check=False).returncode != 0]


class ComposeProject(Client):
    """The Compose project under a fresh name, its gateway on free loopback ports."""

    def __init__(self):
        super().__init__(free_port(), free_port())
        self.name = f"portcullis-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = {
            **images.podman_env(),
            **images.compose_env(),
            "PORTCULLIS_LISTENER_PORT": str(self.port),
            "PORTCULLIS_ADMIN_PORT": str(self.admin_port),
        }
        self.transcript = []

    def compose(self, *args, timeout=120):
        # No pod: podman-compose would name it pod_<project>, outside the project's prefix.
        command = [str(PODMAN_COMPOSE), "--in-pod", "false", "-p", self.name, "-f", str(COMPOSE_FILE), *args]
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                             env=self.env, cwd=COMPOSE_FILE.parent)
        self.transcript.append(f"$ {' '.join(command[1:])}\n{run.stdout}{run.stderr}")
        return run

    def up(self):
        missing = missing_images()
        if missing:
            raise RuntimeError(f"images missing, run `make images`: {missing}")
        run = self.compose("up", "-d")
        if run.returncode != 0:
            raise RuntimeError(f"podman-compose up failed ({run.returncode}):\n{self.transcript[-1]}")
        return self

    def containers(self):
        """[{id, name, service, state}] of the project's containers, running or not."""
        run = podman("ps", "--all", "--format", "json", "--filter", f"label=io.podman.compose.project={self.name}")
        return [{"id": c["Id"], "name": c["Names"][0], "service": c["Labels"].get("io.podman.compose.service"),
                 "state": c["State"]} for c in json.loads(run.stdout or "[]")]

    def container(self, service):
        found = [c for c in self.containers() if c["service"] == service]
        assert len(found) == 1, f"service {service}: {found}"
        return found[0]

    def networks(self):
        run = podman("network", "ls", "--format", "{{.Name}}", "--filter", f"label=io.podman.compose.project={self.name}")
        return run.stdout.split()

    def healthy(self, service):
        """The service's Compose healthcheck, run now inside its container (podman runs
        healthchecks from systemd timers, and these machines have no systemd)."""
        return podman("healthcheck", "run", self.container(service)["id"], check=False).returncode == 0

    def wait_ready(self, timeout=120):
        """Until both services pass their healthchecks and the gateway serves the public
        route; fails early when a container has exited."""
        deadline = time.monotonic() + timeout
        while True:
            exited = [c for c in self.containers() if c["state"] not in ("running", "created", "configured")]
            if exited:
                raise RuntimeError(f"container exited: {exited}\n{self.logs()[-4000:]}")
            if all(self.healthy(s) for s in SERVICES) and self.serves():
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout}s:\n{self.report()}")
            time.sleep(0.5)

    def serves(self):
        try:
            return self.get("/public/health").status_code == 200
        except requests.RequestException:
            return False

    def logs(self, service="envoy"):
        """A service's log (Envoy's by default), stdout and stderr."""
        run = podman("logs", self.container(service)["id"], check=False)
        return run.stdout + run.stderr

    def report(self):
        parts = ["\n".join(self.transcript)]
        for service in SERVICES:
            try:
                parts.append(f"--- {service} log\n{self.logs(service)[-3000:]}")
            except AssertionError as missing:
                parts.append(f"--- {service}: {missing}")
        return "\n".join(parts)

    def down(self):
        """Stops and removes the project's containers and network; then removes, by id
        and name, anything of this project still there. Returns what was left over."""
        self.compose("down", "-t", "5")
        leftovers = self.containers(), self.networks()
        for container in leftovers[0]:
            podman("rm", "--force", "--time", "0", container["id"], check=False)
        for network in leftovers[1]:
            podman("network", "rm", network, check=False)
        return [c["name"] for c in leftovers[0]] + leftovers[1]
