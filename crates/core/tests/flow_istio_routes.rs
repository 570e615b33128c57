#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! On Istio, route names are not namespaced on an ingress gateway: a route-table entry that
//! names its VirtualService (`istio_virtual_service`) applies only to routes whose
//! `istio.config` metadata says they come from it; another route of the same name is
//! treated as unknown, which the authorization filter refuses.

use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Filter};
use serde_json::json;

const OURS: &[u8] =
    b"/apis/networking.istio.io/v1/namespaces/portcullis/virtual-service/portcullis-demo";

fn filter() -> AuthzFilter {
    let config = json!({
        "scopes_claim": "scopes",
        "routes": {"public-health": {
            "requirement": "GET: public",
            "istio_virtual_service": "portcullis/portcullis-demo"
        }},
    });
    AuthzFilter::from_json(config.to_string().as_bytes()).unwrap()
}

fn request(istio_config: Option<&[u8]>) -> MockHost {
    let mut host = MockHost::request("GET", "acme.localhost", "/public/health")
        .with_property("xds.route_name", b"public-health");
    if let Some(config) = istio_config {
        host = host.with_property("xds.route_metadata.filter_metadata.istio.config", config);
    }
    host
}

fn run(mut host: MockHost) -> MockHost {
    let f = filter();
    let action = f.on_request_headers(&mut Default::default(), &mut host, true);
    assert_eq!(action == Action::Continue, host.sent.is_none());
    host
}

fn refusal(host: &MockHost) -> (u16, String) {
    let sent = host.sent.as_ref().expect("refused");
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    (sent.status, body["error"].as_str().unwrap().to_string())
}

#[test]
fn a_route_from_the_named_virtual_service_gets_its_settings() {
    assert!(run(request(Some(OURS))).sent.is_none());
    let older_api =
        b"/apis/networking.istio.io/v1alpha3/namespaces/portcullis/virtual-service/portcullis-demo";
    assert!(run(request(Some(older_api))).sent.is_none());
}

#[test]
fn a_same_named_route_of_another_namespace_is_refused_as_unknown() {
    let theirs =
        b"/apis/networking.istio.io/v1/namespaces/intruder/virtual-service/portcullis-demo";
    let host = run(request(Some(theirs)));
    assert_eq!(refusal(&host), (403, "no_requirement".into()));
}

#[test]
fn a_same_named_route_of_another_virtual_service_is_refused_as_unknown() {
    let theirs = b"/apis/networking.istio.io/v1/namespaces/portcullis/virtual-service/other";
    assert_eq!(
        refusal(&run(request(Some(theirs)))),
        (403, "no_requirement".into())
    );
    let suffix_trick =
        b"/apis/networking.istio.io/v1/namespaces/portcullis/virtual-service/x-portcullis-demo";
    assert_eq!(
        refusal(&run(request(Some(suffix_trick)))),
        (403, "no_requirement".into())
    );
}

#[test]
fn a_route_without_istio_metadata_is_refused_as_unknown() {
    assert_eq!(refusal(&run(request(None))), (403, "no_requirement".into()));
}
