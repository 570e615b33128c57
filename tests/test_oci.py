"""`portcullis oci` on the real filters (build/wasm), read back with skopeo.

The images must be reproducible (two builds, one digest) and readable by standard OCI
tooling as the compat Wasm variant: one tar+gzip layer holding plugin.wasm, the filter's
own bytes. skopeo is installed by `make setup`; without it these tests fail.
"""

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "target" / "release" / "portcullis"
WASM_DIR = ROOT / "build" / "wasm"
TAG = "0.1.0"
FILTERS = ["portcullis_jwt", "portcullis_tenant", "portcullis_authz", "portcullis_redact", "portcullis_accounts"]
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def build(out):
    """Runs `portcullis oci` into `out`; returns {filter: (folder, manifest digest)}."""
    run = subprocess.run(
        [CLI, "oci", "--wasm-dir", WASM_DIR, "--out", out, "--tag", TAG],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stderr
    printed = {}
    for line in run.stdout.splitlines():
        name, folder, digest = line.split(" ")
        printed[name] = (Path(folder), digest)
    assert list(printed) == FILTERS, run.stdout
    return printed


def skopeo_bytes(*args):
    """skopeo's standard output, as bytes; fails (never skips) when skopeo is missing."""
    path = shutil.which("skopeo")
    assert path, "skopeo is missing: run `make setup` (it installs Debian's skopeo)"
    run = subprocess.run([path, *args], capture_output=True, check=False)
    assert run.returncode == 0, run.stderr.decode()
    return run.stdout


def skopeo(*args):
    return json.loads(skopeo_bytes(*args))


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return build(tmp_path_factory.mktemp("first")), build(tmp_path_factory.mktemp("second"))


def test_two_builds_give_the_same_manifest_digests(builds):
    first, second = builds
    assert {f: d for f, (_, d) in first.items()} == {f: d for f, (_, d) in second.items()}


def test_digests_json_records_the_printed_digests_and_the_wasm_hashes(builds):
    first, _ = builds
    out = first[FILTERS[0]][0].parent
    digests = json.loads((out / "digests.json").read_text())
    assert digests["tag"] == TAG
    assert list(digests["images"]) == FILTERS
    for name, (_, digest) in first.items():
        wasm = (WASM_DIR / f"{name}.wasm").read_bytes()
        assert digests["images"][name] == {"digest": digest, "wasm_sha256": hashlib.sha256(wasm).hexdigest()}


def test_the_committed_manifests_pin_the_images_of_this_build(builds):
    """deploy/digests.json (which deploy/istio and deploy/envoy-gateway pin) names the
    images `make oci` makes of these sources: the .wasm build maps the machine's paths
    out (Makefile, WASM_RUSTFLAGS), so the same sources and toolchain give the same bytes
    on any machine."""
    first, _ = builds
    pinned = json.loads((ROOT / "deploy" / "digests.json").read_text())
    built = json.loads((first[FILTERS[0]][0].parent / "digests.json").read_text())
    assert pinned == built, "deploy/digests.json is stale: run `make deploy`"


@pytest.mark.parametrize("build_index", [0, 1])
def test_skopeo_reports_the_printed_digest_and_one_layer(builds, build_index):
    for name, (folder, digest) in builds[build_index].items():
        inspected = skopeo("inspect", f"oci:{folder}:{TAG}")
        assert inspected["Digest"] == digest, name
        assert len(inspected["Layers"]) == 1, name
        assert inspected["Labels"]["org.opencontainers.image.title"] == name


def test_skopeo_raw_manifest_is_the_compat_variant(builds):
    first, _ = builds
    for name, (folder, digest) in first.items():
        raw = skopeo_bytes("inspect", "--raw", f"oci:{folder}:{TAG}")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest, name
        manifest = json.loads(raw)
        assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
        assert [layer["mediaType"] for layer in manifest["layers"]] == [LAYER]
        assert manifest["annotations"]["module.wasm.image/variant"] == "compat"


def test_skopeo_config_has_the_layer_diff_id_and_no_timestamp(builds):
    first, _ = builds
    for name, (folder, _) in first.items():
        config = skopeo("inspect", "--config", f"oci:{folder}:{TAG}")
        layer = gzip.decompress(blob(folder, layer_digest(folder)))
        assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}
        assert "created" not in config, name


def test_layer_holds_plugin_wasm_with_the_built_bytes(builds):
    first, _ = builds
    for name, (folder, _) in first.items():
        with tarfile.open(fileobj=io.BytesIO(blob(folder, layer_digest(folder))), mode="r:gz") as archive:
            members = archive.getmembers()
            assert [m.name for m in members] == ["plugin.wasm"], name
            plugin = archive.extractfile(members[0]).read()
        assert plugin == (WASM_DIR / f"{name}.wasm").read_bytes(), name


def layer_digest(folder):
    manifest = skopeo("inspect", "--raw", f"oci:{folder}:{TAG}")
    [layer] = manifest["layers"]
    assert layer["mediaType"] == LAYER
    return layer["digest"]


def blob(folder, digest):
    return (folder / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
