//! What the Kubernetes bundles (`render istio`, `render envoy-gateway`) share: the image
//! digests they pin (`deploy/digests.json`, written by `portcullis oci`), object metadata,
//! and each filter's configuration with its route table keyed by the names the platform
//! gives its Envoy routes (the filters find their route by `xds.route_name`; neither
//! platform carries Portcullis route metadata).

use super::hold;
use crate::gateway::{RouteSpec, Source, ROUTE_TABLE_FILTERS};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The label every rendered object carries.
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "portcullis");
/// Annotation naming an image by tag: what to push where (docs/deploying.md).
pub const IMAGE_ANNOTATION: &str = "portcullis/image";

/// `digests.json` as `portcullis oci` writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digests {
    /// The images' tag.
    pub tag: String,
    /// Each filter's image, by filter name.
    pub images: BTreeMap<String, ImageDigest>,
}

/// One filter's image in `digests.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDigest {
    /// The OCI image manifest's digest, `sha256:<hex>`.
    pub digest: String,
    /// The hex SHA-256 of `plugin.wasm` inside it.
    pub wasm_sha256: String,
}

/// A filter's image as the manifests name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `<registry>/<filter>@sha256:<hex>`: pinned by digest.
    pub pinned: String,
    /// `<registry>/<filter>:<tag>`: the name to push it under.
    pub tagged: String,
    /// The manifest digest's hex (what Istio's and Envoy Gateway's `sha256` compare).
    pub sha256: String,
}

impl Digests {
    /// Reads `digests.json`; the error names the file.
    pub fn load(path: &Path) -> Result<Digests, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "--digests {}: {e} (`make deploy-digests` writes it)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Filter `filter`'s image under `registry`; the error names the file and the filter.
    pub fn image(&self, path: &Path, registry: &str, filter: &str) -> Result<Image, String> {
        let file = path.display();
        let entry = self.images.get(filter).ok_or_else(|| {
            format!("{file}: images: no digest for filter `{filter}` (run `make deploy-digests`)")
        })?;
        let hex = entry
            .digest
            .strip_prefix("sha256:")
            .filter(|hex| is_sha256_hex(hex))
            .ok_or_else(|| {
                format!(
                    "{file}: images.{filter}.digest `{}`: expected `sha256:` and 64 lower-case \
                     hex digits",
                    entry.digest
                )
            })?;
        if !is_sha256_hex(&entry.wasm_sha256) {
            return Err(format!(
                "{file}: images.{filter}.wasm_sha256: expected 64 lower-case hex digits"
            ));
        }
        Ok(Image {
            pinned: format!("{registry}/{filter}@sha256:{hex}"),
            tagged: format!("{registry}/{filter}:{}", self.tag),
            sha256: hex.to_string(),
        })
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A filter's Kubernetes object name: `portcullis_jwt` → `portcullis-jwt`.
pub fn object_name(filter: &str) -> String {
    filter.replace('_', "-")
}

/// `metadata` with the Portcullis label; `namespace` `None` for cluster-scoped objects.
pub fn metadata(name: &str, namespace: Option<&str>, annotations: &[(&str, String)]) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    if let Some(namespace) = namespace {
        out.insert("namespace".into(), json!(namespace));
    }
    out.insert("labels".into(), json!({PART_OF.0: PART_OF.1}));
    if !annotations.is_empty() {
        let map: Map<String, Value> = annotations
            .iter()
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect();
        out.insert("annotations".into(), Value::Object(map));
    }
    Value::Object(out)
}

/// Filter `name`'s configuration ([`Source::filter_json`]) plus, for the filters that read
/// a route table, `routes`: each route's settings under every name `names(index, route)`
/// gives it (routes declaring nothing are left out).
pub fn filter_config(
    source: &Source,
    name: &str,
    names: &dyn Fn(usize, &RouteSpec) -> Vec<String>,
) -> Result<Value, String> {
    let mut config = source
        .filter_json(name)
        .ok_or_else(|| format!("filters.{name}: missing"))?;
    if let (true, Value::Object(map)) = (ROUTE_TABLE_FILTERS.contains(&name), &mut config) {
        let mut table = Map::new();
        for (index, spec) in source.gateway.routes.iter().enumerate() {
            if let Some(entry) = spec.table_entry() {
                for key in names(index, spec) {
                    table.insert(key, entry.clone());
                }
            }
        }
        map.insert("routes".into(), Value::Object(table));
    }
    Ok(config)
}

/// Refuses routes whose account id is in the request body: Envoy's request hold (the
/// buffer filter after the Wasm filters, see [`hold`]) cannot be placed there on `target`,
/// so the request would reach the backend before its body was checked.
pub fn refuse_body_accounts(source: &Source, target: &str) -> Result<(), String> {
    match source
        .gateway
        .routes
        .iter()
        .find(|spec| hold::reads_body_account(spec))
    {
        Some(spec) => Err(format!(
            "routes[{}].account: a `body:` account cannot be enforced on {target} (no \
             request hold after the Wasm filters: the backend would get the request before \
             its body is checked); read the account from the path, query or a header",
            spec.name
        )),
        None => Ok(()),
    }
}

/// Refuses `envoy.clusters`: the filters' HTTP calls (a provider's `remote_jwks`) name an
/// Envoy cluster, and `target` names its clusters after its own objects (Istio:
/// `outbound|<port>||<host>` of a ServiceEntry), so the call would find no cluster and
/// every token would be refused.
pub fn refuse_clusters(source: &Source, target: &str) -> Result<(), String> {
    match source.gateway.envoy.clusters.first() {
        Some(cluster) => Err(format!(
            "envoy.clusters[{}]: {target} names its Envoy clusters itself, so a filter's \
             call to cluster `{}` would find none; give the JWT keys inline (`jwks`) for \
             {target}",
            cluster.name, cluster.name
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn digests(digest: &str) -> Digests {
        serde_json::from_value(json!({"tag": "0.1.0", "images": {"portcullis_jwt": {
            "digest": digest, "wasm_sha256": "b".repeat(64)}}}))
        .unwrap()
    }

    #[test]
    fn images_are_pinned_by_manifest_digest() {
        let hex = "a".repeat(64);
        let image = digests(&format!("sha256:{hex}"))
            .image(Path::new("d.json"), "r.example.com/p", "portcullis_jwt")
            .unwrap();
        assert_eq!(
            image.pinned,
            format!("r.example.com/p/portcullis_jwt@sha256:{hex}")
        );
        assert_eq!(image.tagged, "r.example.com/p/portcullis_jwt:0.1.0");
        assert_eq!(image.sha256, hex);
    }

    #[test]
    fn a_missing_filter_or_malformed_digest_names_the_file_and_filter() {
        let d = digests(&format!("sha256:{}", "a".repeat(64)));
        let err = d
            .image(Path::new("d.json"), "r", "portcullis_tenant")
            .unwrap_err();
        assert!(
            err.starts_with("d.json: ") && err.contains("`portcullis_tenant`"),
            "{err}"
        );
        let err = digests("sha256:XYZ")
            .image(Path::new("d.json"), "r", "portcullis_jwt")
            .unwrap_err();
        assert!(err.contains("images.portcullis_jwt.digest"), "{err}");
    }

    #[test]
    fn unknown_fields_in_the_digests_file_are_refused() {
        let value = json!({"tag": "1", "images": {}, "extra": 1});
        let err = serde_json::from_value::<Digests>(value).unwrap_err();
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
    }
}
