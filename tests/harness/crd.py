"""Strict validation of Kubernetes custom resources against their CRD, as the API server
does it for `kubectl apply --validate=strict` (no cluster needed).

What is checked, in the API server's order:
- YAML: a key given twice in one mapping is refused (strict field validation does).
- `apiVersion` is `<group>/<version>` of a served version, `kind` the CRD's kind, and
  `metadata` an ObjectMeta: its known fields only, `name` a DNS subdomain, `namespace` a
  DNS label, label keys and values and annotation keys as Kubernetes validates them.
- Defaults of the schema are applied first (the server defaults before it validates).
- The version's `openAPIV3Schema` with OpenAPI 3.0 / Kubernetes structural semantics,
  turned into a JSON Schema (2020-12) and checked with `jsonschema`: an object schema that
  lists `properties` (or none) and has neither `additionalProperties` nor
  `x-kubernetes-preserve-unknown-fields: true` refuses every other key (the unknown
  fields the server's strict validation refuses; only structural nodes, not the
  `allOf`/`anyOf`/`oneOf`/`not` value constraints); `nullable: true` admits null;
  `x-kubernetes-int-or-string` is the `anyOf` integer/string the schema carries; formats
  `int32` and `int64` (ranges), `byte`, `date-time`; every other keyword as JSON Schema
  reads it (`pattern` is searched, not anchored, as Go's `regexp` does).
- `x-kubernetes-list-type: map` / `set`: no two items with the same keys / value.
- `x-kubernetes-validations` (CEL) with `cel-python`, `self` bound to the node, plus the
  Kubernetes library functions the schemas here use (`isURL`, `url(...).getScheme()`).
  Not checked: transition rules (`oldSelf`: there is no old object on create) and
  `messageExpression` (the static `message` is reported). A rule whose evaluation fails
  for an unknown function is reported as an error, never skipped.
Not checked: admission webhooks and controllers (Istio's and Envoy Gateway's own
validation of the objects' meaning), and the server's limits on total size.
"""

import base64
import copy
import datetime
import re
from pathlib import Path
from urllib.parse import urlsplit

import celpy
import celpy.celtypes as cel
import yaml
from jsonschema import Draft202012Validator, FormatChecker


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate field {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_documents(path):
    """The YAML documents of a file (empty documents left out); duplicate keys refused."""
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.load_all(handle, Loader=_StrictLoader) if doc is not None]


_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_QUALIFIED_NAME = (r"^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                   r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
_STRING = {"type": "string"}

# ObjectMeta as a manifest may give it: the fields clients set are validated as the
# server does; the ones the server sets are known (so not "unknown"), loosely typed.
OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
        "generateName": _STRING,
        "namespace": {"type": "string", "pattern": _DNS_LABEL},
        "labels": {"type": "object", "propertyNames": {"pattern": _QUALIFIED_NAME},
                   "additionalProperties": {"type": "string", "pattern": _LABEL_VALUE}},
        "annotations": {"type": "object", "propertyNames": {"pattern": _QUALIFIED_NAME},
                        "additionalProperties": _STRING},
        "finalizers": {"type": "array", "items": _STRING},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "uid": _STRING, "resourceVersion": _STRING, "selfLink": _STRING,
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array"},
    },
}

_SKIPPED_KEYWORDS = {
    "description", "example", "externalDocs", "default", "nullable",
    "x-kubernetes-validations", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-embedded-resource",
}


def strict_schema(node, structural=True):
    """A CRD schema node as a strict JSON Schema (see the module docstring)."""
    out = {}
    for key, value in node.items():
        if key in _SKIPPED_KEYWORDS:
            continue
        if key == "properties":
            out[key] = {name: strict_schema(child, structural) for name, child in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = strict_schema(value, structural and key != "not")
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict_schema(child, False) for child in value]
        else:
            out[key] = value
    is_object = node.get("type") == "object" or "properties" in node
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if structural and is_object and not preserve and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def _int_range(bits):
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return lambda value: not isinstance(value, int) or low <= value <= high


def _is_byte(value):
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
        return True
    except ValueError:
        return False


def _is_date_time(value):
    if not isinstance(value, str):
        return True
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


FORMATS = FormatChecker(formats=())
FORMATS.checks("int32")(_int_range(32))
FORMATS.checks("int64")(_int_range(64))
FORMATS.checks("byte")(_is_byte)
FORMATS.checks("date-time")(_is_date_time)


def _path(parts):
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def _describe(error):
    where = _path(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        prefix = "" if where == "<root>" else where + "."
        return "; ".join(f'unknown field "{prefix}{k}"' for k in extra)
    if error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        field = missing.group(1) if missing else error.message
        prefix = "" if where == "<root>" else where + "."
        return f'{prefix}{field}: Required value'
    return f"{where}: {error.message}"


def apply_defaults(node, value):
    """Kubernetes defaulting: fills `default`s of absent properties, recursively."""
    if isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                apply_defaults(child, value[name])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for name in value:
                if name not in node.get("properties", {}):
                    apply_defaults(extra, value[name])
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            apply_defaults(node["items"], item)


def _k8s_url(value):
    return cel.StringType(str(value))


def _k8s_is_url(value):
    # Go's url.ParseRequestURI: an absolute URI or an absolute path, no fragment.
    text = str(value)
    parts = urlsplit(text)
    absolute = bool(parts.scheme) and bool(parts.netloc or parts.path)
    return cel.BoolType((absolute or text.startswith("/")) and "#" not in text and " " not in text)


def _k8s_get_scheme(value):
    return cel.StringType(urlsplit(str(value)).scheme)


CEL_FUNCTIONS = {"url": _k8s_url, "isURL": _k8s_is_url, "getScheme": _k8s_get_scheme}
_CEL = celpy.Environment()


def cel_errors(node, value, parts, errors, unchecked):
    """Evaluates the node's `x-kubernetes-validations` on `value`, then its children's."""
    for rule in node.get("x-kubernetes-validations", []):
        expression = rule["rule"]
        if re.search(r"\boldSelf\b", expression):
            unchecked.append(f"{_path(parts)}: {expression}")
            continue
        program = _CEL.program(_CEL.compile(expression), functions=CEL_FUNCTIONS)
        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except celpy.CELEvalError as error:
            result = error
        if isinstance(result, celpy.CELEvalError):
            errors.append(f"{_path(parts)}: rule {expression!r} failed to evaluate: {result.args[0]}")
        elif result != cel.BoolType(True):
            errors.append(f"{_path(parts)}: {rule.get('message', 'failed rule: ' + expression)}")
    if isinstance(value, dict):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        for name, child in value.items():
            schema = properties.get(name, extra if isinstance(extra, dict) else None)
            if schema is not None:
                cel_errors(schema, child, [*parts, name], errors, unchecked)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            cel_errors(node["items"], item, [*parts, index], errors, unchecked)


def list_type_errors(node, value, parts, errors):
    """`x-kubernetes-list-type: map | set`: no duplicate keys or values."""
    if isinstance(value, list):
        kind = node.get("x-kubernetes-list-type")
        seen = set()
        for item in value:
            if kind == "map":
                key = tuple(repr(item.get(k)) for k in node.get("x-kubernetes-list-map-keys", []))
            elif kind == "set":
                key = repr(item)
            else:
                continue
            if key in seen:
                errors.append(f"{_path(parts)}: Duplicate value: {key}")
            seen.add(key)
        if isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                list_type_errors(node["items"], item, [*parts, index], errors)
    elif isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            if name in value:
                list_type_errors(child, value[name], [*parts, name], errors)


class Crd:
    """One CustomResourceDefinition: validates documents of its kind."""

    def __init__(self, document):
        spec = document["spec"]
        self.group = spec["group"]
        self.kind = spec["names"]["kind"]
        self.namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        self.versions = {v["name"]: v["schema"]["openAPIV3Schema"]
                         for v in spec["versions"] if v.get("served")}

    def root_schema(self, version):
        """The strict JSON Schema of a whole object of this kind and version."""
        root = strict_schema(self.versions[version])
        meta = copy.deepcopy(OBJECT_META)
        if not self.namespaced:
            del meta["properties"]["namespace"]
        root["properties"] = {
            **root.get("properties", {}),
            "apiVersion": {"const": f"{self.group}/{version}"},
            "kind": {"const": self.kind},
            "metadata": meta,
        }
        root["required"] = sorted({"apiVersion", "kind", "metadata", *root.get("required", [])})
        root["additionalProperties"] = False
        return root

    def validate(self, document):
        """(errors, rules not checked) for one document of this CRD's group and kind."""
        version = str(document.get("apiVersion", "")).partition("/")[2]
        if version not in self.versions:
            served = ", ".join(f"{self.group}/{v}" for v in self.versions)
            return [f'apiVersion: "{document.get("apiVersion")}" is not served (served: {served})'], []
        schema = self.versions[version]
        value = copy.deepcopy(document)
        apply_defaults(schema, value)
        validator = Draft202012Validator(self.root_schema(version), format_checker=FORMATS)
        errors = [_describe(e) for e in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))]
        list_type_errors(schema, value, [], errors)
        unchecked = []
        if not errors:
            cel_errors(schema, value, [], errors, unchecked)
        return errors, unchecked


def load_crds(folder):
    """Every CRD in the folder's YAML files, by (group, kind)."""
    crds = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        for document in load_documents(path):
            if document.get("kind") == "CustomResourceDefinition":
                crd = Crd(document)
                crds[(crd.group, crd.kind)] = crd
    return crds


def group_of(document):
    """The API group of a document's `apiVersion` (`""` for the core group)."""
    api_version = str(document.get("apiVersion", ""))
    return api_version.rpartition("/")[0] if "/" in api_version else ""
