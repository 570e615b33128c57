"""The Kubernetes manifests of deploy/istio and deploy/envoy-gateway, validated strictly
against the CRD schemas of tests/fixtures/crds (copied from the project's ../shared/schemas,
so that a clone alone runs the test: Istio 1.30.3's WasmPlugin, Envoy Gateway
v1.9.0's EnvoyExtensionPolicy) the way the API server validates them under
`kubectl apply --validate=strict`: see tests/harness/crd.py for exactly what is and is
not checked. In short: unknown and duplicate fields refused (metadata, apiVersion and kind
included), OpenAPI 3.0 semantics (nullable, x-kubernetes-int-or-string,
x-kubernetes-preserve-unknown-fields, formats), list-type uniqueness, and the CEL rules
(x-kubernetes-validations) evaluated with cel-python; transition rules (oldSelf) cannot
apply to a create and are not evaluated.

Documents of a kind without a CRD here (Istio Gateway and VirtualService, Gateway API
GatewayClass, Gateway and HTTPRoute, Envoy Gateway's Client/BackendTrafficPolicy) are not
schema-validated; the test pins that list so a new kind cannot slip in unvalidated.

Deliberately broken fixtures (tests/fixtures/manifests/) must fail, naming the field. That
each filter configuration is accepted by the filter's own parser, and that the committed
files are what `portcullis render` produces, is checked by crates/cli/tests/manifests.rs.
"""

import copy
from pathlib import Path

import pytest
import yaml

from harness.crd import group_of, load_crds, load_documents

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "tests" / "fixtures" / "crds"
BUNDLES = [ROOT / "deploy" / "istio", ROOT / "deploy" / "envoy-gateway"]
FIXTURES = ROOT / "tests" / "fixtures" / "manifests"

WITHOUT_SCHEMA = {
    ("networking.istio.io/v1", "Gateway"),
    ("networking.istio.io/v1", "VirtualService"),
    ("gateway.networking.k8s.io/v1", "GatewayClass"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.envoyproxy.io/v1alpha1", "ClientTrafficPolicy"),
    ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"),
}


@pytest.fixture(scope="module")
def crds():
    assert SCHEMAS.is_dir(), f"{SCHEMAS} is missing"
    found = load_crds(SCHEMAS)
    assert {kind for _, kind in found} == {"WasmPlugin", "EnvoyExtensionPolicy"}
    return found


def manifests():
    """(file, index, document) of every document of the two bundles."""
    out = []
    for folder in BUNDLES:
        paths = sorted(folder.glob("*.yaml"))
        assert paths, f"{folder} has no manifests: run `portcullis render {folder.name}`"
        for path in paths:
            for index, document in enumerate(load_documents(path)):
                out.append((path.relative_to(ROOT), index, document))
    return out


MANIFESTS = manifests()


def validate(crds, document):
    """The errors strict validation finds in one document of a kind with a CRD here."""
    crd = crds.get((group_of(document), document.get("kind")))
    assert crd is not None, f"no CRD for {document.get('apiVersion')} {document.get('kind')}"
    errors, unchecked = crd.validate(document)
    assert unchecked == [], f"rules not evaluated: {unchecked}"
    return errors


def validate_file(crds, path):
    """Errors of every document of a file, a YAML error (duplicate field) included."""
    try:
        documents = load_documents(path)
    except yaml.YAMLError as error:
        return [str(error)]
    return [e for document in documents for e in validate(crds, document)]


def committed(kind):
    return [doc for _, _, doc in MANIFESTS if doc["kind"] == kind]


@pytest.mark.parametrize(
    "path,index,document",
    [m for m in MANIFESTS if (m[2]["apiVersion"], m[2]["kind"]) not in WITHOUT_SCHEMA],
    ids=lambda v: str(v) if isinstance(v, (Path, int)) else None,
)
def test_manifest_validates_strictly_against_its_crd(crds, path, index, document):
    assert validate(crds, document) == [], f"{path} document {index}"


def test_only_the_known_kinds_lack_a_crd_schema(crds):
    kinds = {(doc["apiVersion"], doc["kind"]) for _, _, doc in MANIFESTS}
    with_crd = {(api, kind) for api, kind in kinds
                if (group_of({"apiVersion": api}), kind) in crds}
    assert kinds - with_crd == WITHOUT_SCHEMA


def test_every_filter_has_a_validated_wasmplugin_and_policy_entry():
    assert len(committed("WasmPlugin")) == 5
    policies = committed("EnvoyExtensionPolicy")
    assert len(policies) == 1 and len(policies[0]["spec"]["wasm"]) == 5


@pytest.mark.parametrize("fixture,expected", [
    ("wasmplugin-unknown-field.yaml", 'unknown field "spec.pluginConfigs"'),
    ("wasmplugin-wrong-type.yaml", "spec.priority: 'first' is not of type 'integer', 'null'"),
    ("envoyextensionpolicy-missing-required.yaml", "spec.wasm[0].code: Required value"),
    ("wasmplugin-unknown-metadata-field.yaml", 'unknown field "metadata.label"'),
    ("wasmplugin-duplicate-field.yaml", "duplicate field 'phase'"),
    ("envoyextensionpolicy-cel-rule.yaml",
     "spec.wasm[0].code: If type is Image, image field needs to be set."),
])
def test_broken_fixture_fails_naming_the_field(crds, fixture, expected):
    errors = validate_file(crds, FIXTURES / fixture)
    assert any(expected in error for error in errors), errors


def plugin():
    return copy.deepcopy(committed("WasmPlugin")[0])


def test_nullable_field_accepts_null_and_others_do_not(crds):
    document = plugin()
    document["spec"]["priority"] = None
    assert validate(crds, document) == []
    document["spec"]["failStrategy"] = None
    assert "spec.failStrategy: None is not of type 'string'" in validate(crds, document)


def test_preserve_unknown_fields_keeps_any_plugin_config(crds):
    document = plugin()
    document["spec"]["pluginConfig"] = {"anything": {"nested": [1, "two", None]}}
    assert validate(crds, document) == []


def test_int_or_string_accepts_both_and_nothing_else(crds):
    document = plugin()
    for value in (3, "3"):
        document["status"] = {"observedGeneration": value}
        assert validate(crds, document) == []
    document["status"] = {"observedGeneration": 3.5}
    assert any(e.startswith("status.observedGeneration: ") for e in validate(crds, document))


def test_int32_format_refuses_larger_numbers(crds):
    document = plugin()
    document["spec"]["priority"] = 2 ** 31
    assert any(e.startswith("spec.priority: ") for e in validate(crds, document))


def test_unserved_api_version_is_refused(crds):
    document = plugin()
    document["apiVersion"] = "extensions.istio.io/v1"
    assert "is not served" in validate(crds, document)[0]


def test_cel_rule_on_map_keys_is_evaluated(crds):
    document = plugin()
    document["spec"]["selector"]["matchLabels"] = {"istio*": "ingressgateway"}
    assert validate(crds, document) == [
        "spec.selector.matchLabels: wildcard not allowed in label key match"]


def test_selector_and_target_refs_together_are_refused_by_cel(crds):
    document = plugin()
    document["spec"]["targetRefs"] = [{"kind": "Gateway", "group": "gateway.networking.k8s.io",
                                       "name": "portcullis-demo"}]
    assert validate(crds, document) == ["spec: only one of targetRefs or selector can be set"]
