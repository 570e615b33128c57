//! The flow probe: where a request's time goes inside the Portcullis chain, without Envoy.
//!
//! The one filter (`portcullis`, every stage) is configured exactly as in the repository's
//! `envoy.yaml` (read at build time) and run on the demo request (GET
//! /accounts/demostore/contracts/123-456 on acme.localhost, the contract route's metadata,
//! the demo contract as the response) through `MockHost`, callback by callback as Envoy
//! calls it. Each callback is timed and its host calls counted separately; so are a bare
//! `jsonwebtoken::decode` of the same RS256 token and a parse + serialise of the demo
//! contract, as floors.
//!
//! Built natively and for wasm32-wasip1 (run under Node's V8) by bench/profile.py, the
//! same code shows what compiling to wasm costs and which filter pays it.
//!
//! Usage: flows [iterations] [all|chain|rs256] — prints one `FLOWS {json}` line. `chain`
//! runs only the two chain scenarios and `rs256` only the bare verification, so that a CPU
//! profile of the run shows one of them.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::pipeline::Pipeline;
use portcullis_core::flow::{Action, Filter, Host, HostError, HostKind};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;
use std::time::SystemTime;

const ENVOY_YAML: &str = include_str!("../../../envoy.yaml");
const DEMO_KEY: &str = include_str!("../../../examples/keys/demo-rs256.pem");
const JWKS: &str = include_str!("../../../examples/keys/demo-jwks.json");
const PATH: &str = "/accounts/demostore/contracts/123-456";
const CONTRACT: &str = r#"{"id":"123-456","contractOwner":"demostore","source":"adwords","user":{"name":"Usuário","cpf":"000.000.370.00","rendaMensal":15000},"mother":{"name":"Mãe","cpf":"000.000.370.00","rendaMensal":15000}}"#;
const NOW: u64 = 1_700_000_000;

type Res<T> = Result<T, String>;

struct Setup {
    /// The `portcullis` filter's configuration.
    config: String,
    route_metadata: Vec<(String, String)>,
}

fn setup() -> Res<Setup> {
    let config: Value =
        serde_saphyr::from_str(ENVOY_YAML).map_err(|e| format!("envoy.yaml: {e}"))?;
    let hcm = &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    let config = hcm["http_filters"]
        .as_array()
        .ok_or("envoy.yaml: no http_filters")?
        .iter()
        .find(|f| f["name"] == "portcullis")
        .and_then(|f| f["typed_config"]["config"]["configuration"]["value"].as_str())
        .ok_or("envoy.yaml: no `portcullis` filter")?
        .to_string();
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .ok_or("envoy.yaml: no routes")?;
    let contract = routes
        .iter()
        .find(|r| r["name"] == "contract")
        .ok_or("envoy.yaml: no route `contract`")?;
    // The route's settings are in the filter's route table; what metadata the route
    // still carries (the request hold's marker) is given as Envoy gives it.
    let route_metadata = contract["metadata"]["filter_metadata"]["portcullis"]
        .as_object()
        .map(|meta| {
            meta.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Setup {
        config,
        route_metadata,
    })
}

fn token(role: &str) -> Res<String> {
    let claims = json!({
        "sub": "u1", "tenant": "acme", "organization": ["demostore"], "roles": [role],
        "scopes": ["br.com.chaordic.cockpit/sales/customerServices/*"],
        "iss": "https://accounts.crontech.localhost", "aud": "users",
        "iat": NOW, "exp": NOW + 3600,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("demo-rs256".into());
    let key = EncodingKey::from_rsa_pem(DEMO_KEY.as_bytes()).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}

/// Phases timed (the filter's callbacks), in the order they run.
const PHASES: &[&str] = &["request headers", "response headers", "response body"];

/// A `MockHost` that counts the host calls each phase makes (each would be one proxy-wasm
/// host call in Envoy; `count` is one `increment_metric` once the counter is defined).
struct CountingHost {
    inner: MockHost,
    phase: usize,
    calls: RefCell<Vec<BTreeMap<&'static str, usize>>>,
}

impl CountingHost {
    fn tick(&self, call: &'static str) {
        *self.calls.borrow_mut()[self.phase].entry(call).or_insert(0) += 1;
    }
}

impl Host for CountingHost {
    fn kind(&self) -> HostKind {
        self.inner.kind()
    }
    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        self.tick("get_map_value");
        self.inner.request_header(name)
    }
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        self.tick("get_map");
        self.inner.request_headers()
    }
    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.tick("set_map_value");
        self.inner.set_request_header(name, value)
    }
    fn response_header(&self, name: &str) -> Result<Option<String>, HostError> {
        self.tick("get_map_value");
        self.inner.response_header(name)
    }
    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        self.tick("get_map");
        self.inner.response_headers()
    }
    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.tick("set_map_value");
        self.inner.set_response_header(name, value)
    }
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        self.tick("get_property");
        self.inner.property(path)
    }
    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.tick("set_property");
        self.inner.set_property(path, value)
    }
    fn request_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError> {
        self.tick("get_buffer");
        self.inner.request_body(size)
    }
    fn response_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError> {
        self.tick("get_buffer");
        self.inner.response_body(size)
    }
    fn set_response_body(&mut self, current_size: usize, body: &[u8]) -> Result<(), HostError> {
        self.tick("set_buffer");
        self.inner.set_response_body(current_size, body)
    }
    fn send_response(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError> {
        self.tick("send_http_response");
        self.inner.send_response(status, headers, body)
    }
    fn now(&self) -> Result<SystemTime, HostError> {
        self.tick("get_current_time");
        self.inner.now()
    }
    fn count(&mut self, metric: &str) {
        self.tick("increment_metric");
        self.inner.count(metric)
    }
    fn log_info(&self, message: &str) {
        self.tick("log");
        self.inner.log_info(message)
    }
    fn log_warn(&self, message: &str) {
        self.tick("log");
        self.inner.log_warn(message)
    }
}

fn request(setup: &Setup, token: &str) -> CountingHost {
    let mut host = MockHost::request("GET", "acme.localhost", PATH)
        .with_header("authorization", &format!("Bearer {token}"))
        .with_header("x-request-id", "bench")
        .with_property("xds.route_name", b"contract");
    for (k, v) in &setup.route_metadata {
        host = host.with_property(
            &format!("xds.route_metadata.filter_metadata.portcullis.{k}"),
            v.as_bytes(),
        );
    }
    host.now_secs = NOW;
    CountingHost {
        inner: host,
        phase: 0,
        calls: RefCell::new(vec![BTreeMap::new(); PHASES.len()]),
    }
}

/// One request through the filter; adds each phase's nanoseconds to `ns`. Returns the
/// body the client would receive and the host calls each phase made.
fn run(
    filter: &Pipeline,
    setup: &Setup,
    token: &str,
    ns: &mut [u128],
) -> Res<(Vec<u8>, Vec<BTreeMap<&'static str, usize>>)> {
    let mut host = request(setup, token);
    let mut stream = Default::default();
    let step = |i: usize, ns: &mut [u128], f: &mut dyn FnMut() -> Action| -> Res<()> {
        let t = Instant::now();
        let action = f();
        ns[i] += t.elapsed().as_nanos();
        if action == Action::Continue {
            Ok(())
        } else {
            Err(format!("{} stopped the request", PHASES[i]))
        }
    };
    host.phase = 0;
    step(0, ns, &mut || {
        filter.on_request_headers(&mut stream, &mut host, true)
    })?;
    host.inner.response_headers = vec![
        (":status".into(), "200".into()),
        ("content-type".into(), "application/json".into()),
        ("content-length".into(), CONTRACT.len().to_string()),
    ];
    host.inner.response_body = CONTRACT.as_bytes().to_vec();
    let size = host.inner.response_body.len();
    host.phase = 1;
    step(1, ns, &mut || {
        filter.on_response_headers(&mut stream, &mut host, false)
    })?;
    host.phase = 2;
    step(2, ns, &mut || {
        filter.on_response_body(&mut stream, &mut host, size, true)
    })?;
    if let Some(sent) = &host.inner.sent {
        return Err(format!(
            "local response {}: {}",
            sent.status,
            String::from_utf8_lossy(&sent.body)
        ));
    }
    Ok((host.inner.response_body, host.calls.into_inner()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median over `batches` of the mean microseconds per call of `f`.
fn time_us(iterations: usize, batches: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 + 1 {
        f();
    }
    median(
        (0..batches)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..iterations {
                    f();
                }
                t.elapsed().as_nanos() as f64 / iterations as f64 / 1000.0
            })
            .collect(),
    )
}

fn scenario(
    chain: &Pipeline,
    setup: &Setup,
    token: &str,
    iterations: usize,
    batches: usize,
) -> Res<Value> {
    let (body, calls) = run(chain, setup, token, &mut [0; PHASES.len()])?;
    for _ in 0..iterations / 10 + 1 {
        run(chain, setup, token, &mut [0; PHASES.len()])?;
    }
    let mut per_batch: Vec<Vec<f64>> = vec![Vec::new(); PHASES.len()];
    for _ in 0..batches {
        let mut ns = [0u128; PHASES.len()];
        for _ in 0..iterations {
            run(chain, setup, token, &mut ns)?;
        }
        for (i, total) in ns.iter().enumerate() {
            per_batch[i].push(*total as f64 / iterations as f64 / 1000.0);
        }
    }
    let phases: serde_json::Map<String, Value> = PHASES
        .iter()
        .zip(per_batch)
        .map(|(name, v)| (name.to_string(), json!(median(v))))
        .collect();
    let host_calls: serde_json::Map<String, Value> = PHASES
        .iter()
        .zip(calls)
        .map(|(name, c)| (name.to_string(), json!(c)))
        .collect();
    Ok(
        json!({"phases_us": phases, "host_calls": host_calls, "body": String::from_utf8_lossy(&body)}),
    )
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("flows: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Res<()> {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().map_err(|_| format!("bad iteration count {s}")))
        .transpose()?
        .unwrap_or(200);
    let mode = std::env::args().nth(2).unwrap_or_else(|| "all".into());
    if !["all", "chain", "rs256"].contains(&mode.as_str()) {
        return Err(format!("unknown mode {mode}: all, chain or rs256"));
    }
    let batches = 5;
    let setup = setup()?;
    let chain = Pipeline::from_json(setup.config.as_bytes())?;
    let fin = token("FINANCEIRO")?;
    let demo = token("ATENDIMENTO")?;

    // Floors: the bare library verification of the same token, and one JSON parse +
    // serialisation of the demo contract.
    let jwks: Value = serde_json::from_str(JWKS).map_err(|e| e.to_string())?;
    let (n, e) = (
        jwks["keys"][0]["n"].as_str().ok_or("jwks: n")?,
        jwks["keys"][0]["e"].as_str().ok_or("jwks: e")?,
    );
    let key = DecodingKey::from_rsa_components(n, e).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["users"]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(&fin, &key, &validation).map_err(|e| e.to_string())?;
    let floors = mode != "chain";
    let decode_us = floors.then(|| {
        time_us(iterations, batches, || {
            let _ = std::hint::black_box(jsonwebtoken::decode::<Value>(
                std::hint::black_box(&fin),
                &key,
                &validation,
            ));
        })
    });
    let json_us = floors.then(|| {
        time_us(iterations * 10, batches, || {
            let v: Value = serde_json::from_str(std::hint::black_box(CONTRACT)).unwrap_or_default();
            std::hint::black_box(serde_json::to_vec(&v).unwrap_or_default());
        })
    });
    let chain_runs = mode != "rs256";

    let out = json!({
        "target": if cfg!(target_family = "wasm") { "wasm32 (V8)" } else { "native" },
        "iterations": iterations,
        "batches": batches,
        "floors_us": {
            "jsonwebtoken::decode RS256 (no Portcullis code)": decode_us,
            "serde_json parse + write of the demo contract": json_us,
        },
        "nothing_hidden": if chain_runs { scenario(&chain, &setup, &fin, iterations, batches)? } else { Value::Null },
        "redacting": if chain_runs { scenario(&chain, &setup, &demo, iterations, batches)? } else { Value::Null },
    });
    println!("FLOWS {out}");
    Ok(())
}
