//! The parts of an OpenAPI 3.0 or 3.1 document (YAML or JSON) that coverage needs: the
//! base path of the first server, and each operation's method, path template, parameters
//! and whether it takes a request body. Every other field is allowed and ignored (OpenAPI
//! has many, and extensions); local `$ref`s (`#/components/...`) of path items,
//! parameters and schemas are followed. The `x-portcullis-*` extensions are not read.

use crate::gateway::find_line;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// The HTTP methods an OpenAPI path item may hold, as its keys.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A document that cannot be read (exit 2); messages name the file and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenApiError {
    /// The file could not be read.
    Read {
        /// The path.
        file: String,
        /// Why.
        reason: String,
    },
    /// Not YAML or JSON.
    Syntax {
        /// The path.
        file: String,
        /// What the parser said.
        message: String,
    },
    /// Not OpenAPI 3.0 or 3.1.
    Version {
        /// The path.
        file: String,
        /// What the document says it is.
        found: String,
    },
    /// A field is not of the expected shape.
    Field {
        /// The path.
        file: String,
        /// The field, dotted (`paths./a.get.parameters[0].in`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for OpenApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenApiError::Read { file, reason } => write!(f, "{file}: {reason}"),
            OpenApiError::Syntax { file, message } => write!(f, "{file}: {message}"),
            OpenApiError::Version { file, found } => write!(
                f,
                "{file}: openapi: expected an OpenAPI 3.0 or 3.1 document, found {found}"
            ),
            OpenApiError::Field {
                file,
                field,
                message,
            } => write!(f, "{file}: {field}: {message}"),
        }
    }
}

impl std::error::Error for OpenApiError {}

/// One operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper case (`GET`).
    pub method: String,
    /// The path template as the document writes it (`/accounts/{account}`).
    pub template: String,
    /// Path-item and operation parameters (the operation's win), `$ref`s resolved.
    pub parameters: Vec<Parameter>,
    /// It declares a request body.
    pub has_body: bool,
    /// 1-based line of the operation, when found.
    pub line: Option<usize>,
}

/// One parameter.
#[derive(Debug, Clone, Deserialize)]
pub struct Parameter {
    /// Its name.
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    #[serde(rename = "in")]
    pub location: String,
    /// Its schema, `$ref` resolved (`null` when none).
    #[serde(default)]
    pub schema: Value,
    /// An example value.
    #[serde(default)]
    pub example: Option<Value>,
}

/// A loaded document.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The path, as shown in messages.
    pub file: String,
    /// The path of the first server's URL (`/v1`), empty for none: the gateway sees it
    /// in front of every path template.
    pub base: String,
    /// Every operation, in document order.
    pub operations: Vec<Operation>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    openapi: Option<Value>,
    #[serde(default)]
    swagger: Option<Value>,
    #[serde(default)]
    servers: Vec<Server>,
    #[serde(default)]
    paths: Map<String, Value>,
}

#[derive(Deserialize)]
struct Server {
    url: String,
    #[serde(default)]
    variables: Map<String, Value>,
}

#[derive(Deserialize)]
struct PathItem {
    #[serde(default)]
    parameters: Vec<Value>,
}

#[derive(Deserialize)]
struct RawOperation {
    #[serde(default)]
    parameters: Vec<Value>,
    #[serde(default, rename = "requestBody")]
    request_body: Option<Value>,
}

/// Reads one document: JSON when the file name ends in `.json`, YAML otherwise.
pub fn load(path: &Path) -> Result<Spec, OpenApiError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| OpenApiError::Read {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let syntax = |message: String| OpenApiError::Syntax {
        file: file.clone(),
        message,
    };
    let root: Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| syntax(e.to_string()))?
    } else {
        crate::yaml::from_str(&text).map_err(|e| syntax(e.to_string()))?
    };
    let field = |prefix: &str, err: serde_path_to_error::Error<serde_json::Error>| {
        let inner = err.path().to_string();
        OpenApiError::Field {
            file: file.clone(),
            field: match (prefix.is_empty(), inner.as_str()) {
                (true, _) => inner.clone(),
                (false, ".") => prefix.to_string(),
                (false, _) => format!("{prefix}.{inner}"),
            },
            message: err.into_inner().to_string(),
        }
    };
    let document: Document = serde_path_to_error::deserialize(&root).map_err(|e| field("", e))?;
    match (&document.openapi, &document.swagger) {
        (Some(Value::String(v)), _) if v.starts_with("3.0") || v.starts_with("3.1") => {}
        (Some(other), _) | (None, Some(other)) => return Err(version_error(&file, other)),
        (None, None) => return Err(version_error(&file, &Value::Null)),
    }
    let base = document.servers.first().map(base_path).unwrap_or_default();
    let mut operations = Vec::new();
    for (template, raw_item) in &document.paths {
        let at = format!("paths.{template}");
        if !template.starts_with('/') {
            return Err(OpenApiError::Field {
                file: file.clone(),
                field: at,
                message: "a path template starts with /".into(),
            });
        }
        let item = resolve(&root, raw_item);
        let shared: PathItem = serde_path_to_error::deserialize(item).map_err(|e| field(&at, e))?;
        for method in METHODS {
            let Some(raw) = item.get(*method) else {
                continue;
            };
            let at = format!("{at}.{method}");
            let operation: RawOperation =
                serde_path_to_error::deserialize(raw).map_err(|e| field(&at, e))?;
            let mut parameters: Vec<Parameter> = Vec::new();
            let lists = [
                (format!("{at}.parameters"), &operation.parameters),
                (format!("paths.{template}.parameters"), &shared.parameters),
            ];
            for (list_at, list) in lists {
                for (index, raw) in list.iter().enumerate() {
                    let mut parameter: Parameter =
                        serde_path_to_error::deserialize(resolve(&root, raw))
                            .map_err(|e| field(&format!("{list_at}[{index}]"), e))?;
                    parameter.schema = resolve(&root, &parameter.schema).clone();
                    let known = parameters
                        .iter()
                        .any(|p| p.name == parameter.name && p.location == parameter.location);
                    if !known {
                        parameters.push(parameter);
                    }
                }
            }
            operations.push(Operation {
                method: method.to_ascii_uppercase(),
                template: template.clone(),
                parameters,
                has_body: operation.request_body.is_some(),
                line: find_line(&text, &["paths", template, method]),
            });
        }
    }
    Ok(Spec {
        file,
        base,
        operations,
    })
}

fn version_error(file: &str, found: &Value) -> OpenApiError {
    OpenApiError::Version {
        file: file.into(),
        found: match found {
            Value::Null => "no `openapi` field".into(),
            other => format!("version {other}"),
        },
    }
}

/// Follows local `$ref`s (`#/components/parameters/x`), at most 16 deep; a reference that
/// leads nowhere (or elsewhere than this document) is left as it is.
fn resolve<'a>(root: &'a Value, value: &'a Value) -> &'a Value {
    let mut current = value;
    for _ in 0..16 {
        let target = current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer));
        match target {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// The path part of a server URL, its variables replaced by their defaults, without a
/// trailing `/`.
fn base_path(server: &Server) -> String {
    let mut url = server.url.clone();
    for (name, variable) in &server.variables {
        if let Some(default) = variable.get("default").and_then(Value::as_str) {
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |at| &rest[at..]),
        None => url.as_str(),
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str) -> Server {
        Server {
            url: url.into(),
            variables: serde_json::json!({"v": {"default": "2"}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }
    }

    #[test]
    fn the_base_path_is_the_path_of_the_server_url() {
        assert_eq!(base_path(&server("https://api.example.com/v{v}/")), "/v2");
        assert_eq!(base_path(&server("http://127.0.0.1:8080")), "");
        assert_eq!(base_path(&server("/api")), "/api");
    }
}
