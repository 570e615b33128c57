//! The optional `deploy:` section of `gateway.yaml`: what the Kubernetes bundles
//! (`portcullis render istio`, `portcullis render envoy-gateway`) need beyond the gateway
//! itself: where the filters' images are pushed, the namespaces and the backend Service.
//! Every field has a default, so a `gateway.yaml` without the section renders too; the
//! default registry is an obvious placeholder (`registry.example.com/portcullis`).

use serde::Deserialize;
use std::collections::BTreeMap;

/// The `deploy:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// Registry and repository prefix of the images: filter `portcullis_jwt` is pulled
    /// as `<registry>/portcullis_jwt@sha256:<digest>`.
    #[serde(default = "default_registry")]
    pub registry: String,
    /// Namespace of the routes and policies (Gateway, HTTPRoute, VirtualService, ...).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Host names the routes answer; empty: every host (the tenant filter refuses the
    /// hosts it does not know, as with `envoy.yaml`).
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// The Kubernetes Service every route forwards to.
    #[serde(default)]
    pub backend: Service,
    /// Istio: the ingress gateway's namespace. A WasmPlugin with a selector applies to
    /// the workloads of its own namespace, so the WasmPlugins are rendered there.
    #[serde(default = "default_istio_namespace")]
    pub istio_namespace: String,
    /// Istio: the labels of the ingress gateway's pods (WasmPlugin and Gateway selector).
    #[serde(default = "default_istio_selector")]
    pub istio_selector: BTreeMap<String, String>,
}

/// A Service and port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The Service's name, in [`Deploy::namespace`].
    pub name: String,
    /// Its port.
    pub port: u16,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            name: "portcullis-demo-backend".into(),
            port: 8080,
        }
    }
}

impl Default for Deploy {
    fn default() -> Self {
        Deploy {
            registry: default_registry(),
            namespace: default_namespace(),
            hostnames: Vec::new(),
            backend: Service::default(),
            istio_namespace: default_istio_namespace(),
            istio_selector: default_istio_selector(),
        }
    }
}

fn default_registry() -> String {
    "registry.example.com/portcullis".into()
}

fn default_namespace() -> String {
    "portcullis".into()
}

fn default_istio_namespace() -> String {
    "istio-system".into()
}

fn default_istio_selector() -> BTreeMap<String, String> {
    BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())])
}

impl Deploy {
    /// Checks what Kubernetes and the registries would refuse; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        let registry = &self.registry;
        let mut parts = registry.split('/');
        let host = parts.next().unwrap_or_default();
        let path_ok = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        };
        let registry_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
            && parts.all(path_ok);
        if !registry_ok {
            return Err(format!(
                "deploy.registry `{registry}`: give a registry host and repository prefix \
                 without scheme, tag or trailing `/` (`registry.example.com/portcullis`)"
            ));
        }
        for (field, value) in [
            ("namespace", &self.namespace),
            ("istio_namespace", &self.istio_namespace),
            ("backend.name", &self.backend.name),
        ] {
            if !is_dns_label(value) {
                return Err(format!(
                    "deploy.{field} `{value}`: not a Kubernetes name (lower-case letters, \
                     digits and `-`, at most 63, starting and ending with a letter or digit)"
                ));
            }
        }
        if self.backend.port == 0 {
            return Err("deploy.backend.port: must be 1 to 65535".into());
        }
        for host in &self.hostnames {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            if host.len() > 253 || bare.is_empty() || !bare.split('.').all(is_dns_label) {
                return Err(format!(
                    "deploy.hostnames `{host}`: not a host name (`acme.example.com` or \
                     `*.acme.example.com`)"
                ));
            }
        }
        if self.hostnames.len() > 16 {
            return Err("deploy.hostnames: at most 16 (a Gateway API limit)".into());
        }
        Ok(())
    }

    /// The host names as the routes list them: `["*"]` when none is given.
    pub fn hosts(&self) -> Vec<String> {
        if self.hostnames.is_empty() {
            vec!["*".into()]
        } else {
            self.hostnames.clone()
        }
    }
}

/// An RFC 1123 label: what Kubernetes accepts as a namespace or Service name.
pub fn is_dns_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    let inner = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(inner)
        && edge(bytes.first())
        && edge(bytes.last())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with_registry(registry: &str) -> Result<(), String> {
        Deploy {
            registry: registry.into(),
            ..Deploy::default()
        }
        .check()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(Deploy::default().check().is_ok());
        assert_eq!(Deploy::default().hosts(), ["*"]);
    }

    #[test]
    fn registries_with_scheme_tag_or_upper_case_path_are_refused() {
        assert!(with_registry("localhost:5000/portcullis").is_ok());
        for bad in [
            "oci://r.example.com/p",
            "r.example.com/p:1",
            "r.example.com/P",
            "r.example.com/p/",
            "",
        ] {
            let err = with_registry(bad).unwrap_err();
            assert!(err.starts_with("deploy.registry "), "{err}");
        }
    }

    #[test]
    fn names_and_hosts_must_be_kubernetes_names() {
        let deploy = Deploy {
            namespace: "Portcullis".into(),
            ..Deploy::default()
        };
        assert!(deploy.check().unwrap_err().starts_with("deploy.namespace "));
        let deploy = Deploy {
            hostnames: vec!["*.acme.example.com".into(), "bad_host".into()],
            ..Deploy::default()
        };
        assert!(deploy.check().unwrap_err().contains("`bad_host`"));
    }
}
