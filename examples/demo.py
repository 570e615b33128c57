"""`make demo`: the sample backend and Envoy running the repository's envoy.yaml with
every Portcullis filter, in the foreground. Envoy listens on 127.0.0.1:10000, its admin
on 127.0.0.1:9901, the backend on 127.0.0.1:8080. Ctrl-C stops everything it started.
"""

import ctypes
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "backend"))
from server import Backend  # noqa: E402


def die_with_parent():
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_ready(envoy, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if envoy.poll() is not None:
            return False
        try:
            with urllib.request.urlopen("http://127.0.0.1:9901/ready", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def main():
    backend = Backend(8080).start()
    envoy = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "envoy"), "-c", str(ROOT / "envoy.yaml"), "--log-level", "info",
         "--component-log-level", "wasm:info"],
        cwd=ROOT, preexec_fn=die_with_parent)
    try:
        if not wait_ready(envoy):
            print("envoy did not become ready; see its log above", file=sys.stderr)
            return 1
        print(
            "\nPortcullis demo ready: Envoy on http://127.0.0.1:10000 (admin :9901), backend on :8080\n"
            "  curl -H 'Host: acme.localhost' http://127.0.0.1:10000/public/health\n"
            "  TOKEN=$(make -s token)\n"
            "  curl -H 'Host: acme.localhost' -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:10000/whoami\n"
            "Ctrl-C stops it.\n", flush=True)
        return envoy.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if envoy.poll() is None:
            envoy.terminate()
            try:
                envoy.wait(10)
            except subprocess.TimeoutExpired:
                envoy.kill()
        backend.shutdown()


if __name__ == "__main__":
    sys.exit(main())
