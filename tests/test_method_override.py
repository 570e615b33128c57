"""Method override in the request body (issue 18, class 3), through a real Envoy.

Rack::MethodOverride, Symfony and Laravel run the method a `_method` field names instead
of the request's: in a form (`application/x-www-form-urlencoded`, or a POST without a
content type, which Rack parses as a form), in a multipart field, or (Laravel) as a member
of a JSON object. The route's requirement was checked for the request's method, so the
authorization filter reads the bodies frameworks parse and refuses an override naming
another method (400 `method_override`), a body it cannot read (400, 413, 415), and the
backend never sees any of them. A POST without an override passes, its body intact.

The demo (the repository's envoy.yaml) serves `POST /sales/customerServices/stockout`; the
demo user's token has its scope. Each request carries a unique `?t=` so the test can tell
whether the sample backend received it. Chunked bodies go to a copy of the rendered
stockout route pointing at a raw-socket backend (`RawBackend`), which decodes them.
"""

import copy
import gzip
import http.client
import json
import uuid

import pytest

from harness.gateway import Envoy, load_repo_config, set_stage_config, stage_config
from harness.raw import RawBackend, chunked, raw_http, request_bytes

STOCKOUT = "/sales/customerServices/stockout"
RAW_STOCKOUT = "/raw/sales/customerServices/stockout"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
LIMIT = 1024 * 1024
RAW_LIMIT = 4096


def post(gateway, token, body, content_type=None, headers=(), path=STOCKOUT, method="POST"):
    """POSTs `body` exactly as given (repeated headers allowed, no content type unless
    given) with a unique mark: (status, parsed JSON body or raw bytes, mark)."""
    mark = uuid.uuid4().hex
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    try:
        conn.putrequest(method, f"{path}?t={mark}", skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", "acme.localhost")
        conn.putheader("authorization", f"Bearer {token}")
        if content_type is not None:
            conn.putheader("content-type", content_type)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    try:
        payload = json.loads(payload)
    except ValueError:
        pass
    return response.status, payload, mark


def reached(backend, mark, path=STOCKOUT):
    """The requests carrying `mark` the backend received."""
    return backend.seen(f"{path}?t={mark}")


def assert_refused(backend, answer, status=400, reason="method_override"):
    got, payload, mark = answer
    assert (got, payload.get("error") if isinstance(payload, dict) else payload) == (status, reason)
    assert reached(backend, mark) == []


def multipart(fields, boundary="portcullis-b0undary", eol="\r\n", disposition=None):
    """A multipart/form-data body: `fields` is a list of (name header text, value); the
    name text is written as given (`name="x"`, `name=x`, `name*=...`)."""
    out = ""
    for name, value in fields:
        header = disposition or "Content-Disposition: form-data; "
        out += f"--{boundary}{eol}{header}{name}{eol}{eol}{value}{eol}"
    return (out + f"--{boundary}--{eol}").encode()


# --- forms ---------------------------------------------------------------------------------

FORM_OVERRIDES = [
    "_method=DELETE",
    "_METHOD=DELETE",
    "_Method=delete",
    "%5Fmethod=DELETE",
    "%5fmethod=DELETE",
    "_me%74hod=DELETE",
    "_method[]=DELETE",
    "_method[x]=DELETE",
    "sku=1;_method=DELETE",
    "sku=1&+_method=DELETE",
    "sku=1&%20_method=DELETE",
    "_method=+DELETE+",
    "_method=PUT",
    "_method=",
    "_method",
    ".method=DELETE",
    "_method%00x=DELETE",
    "_method=POST&_method=DELETE",
    "sku=1&sku=2&_method=PATCH",
]


@pytest.mark.parametrize("body", FORM_OVERRIDES)
def test_form_override_naming_another_method_is_refused_before_the_backend(demo, backend, demo_token, body):
    assert_refused(backend, post(demo, demo_token, body.encode(), FORM))


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED",
    "Application/X-Www-Form-Urlencoded ; charset=UTF-8",
    "application/x-www-form-urlencoded,text/plain",
])
def test_form_override_is_refused_whatever_the_spelling_of_the_form_content_type(
        demo, backend, demo_token, content_type):
    answer = post(demo, demo_token, b"sku=1&_method=DELETE", content_type)
    assert answer[0] == 400
    assert reached(backend, answer[2]) == []


def test_form_override_without_a_content_type_is_refused_because_rack_reads_it_as_a_form(
        demo, backend, demo_token):
    assert_refused(backend, post(demo, demo_token, b"sku=1&_method=DELETE"))


def test_form_naming_the_request_method_passes_with_its_body_intact(demo, backend, demo_token):
    body = b"sku=1&_method=POST&note=a+b%20c"
    status, payload, mark = post(demo, demo_token, body, FORM)
    assert (status, payload) == (200, {"stockout": "recorded"})
    assert [r["body"] for r in reached(backend, mark)] == [body]


def test_form_without_an_override_passes_with_its_body_intact(demo, backend, demo_token):
    body = b"sku=1&quantity=3&method=DELETE&payment_method=card&x_method=1"
    status, _, mark = post(demo, demo_token, body, FORM)
    assert status == 200
    assert [r["body"] for r in reached(backend, mark)] == [body]


# --- multipart -----------------------------------------------------------------------------

MULTIPART_OVERRIDES = [
    ("quoted name", multipart([('name="sku"', "1"), ('name="_method"', "DELETE")]), "portcullis-b0undary"),
    ("unquoted name", multipart([("name=_method", "DELETE")]), "portcullis-b0undary"),
    ("upper-case name", multipart([('name="_METHOD"', "DELETE")]), "portcullis-b0undary"),
    ("upper-case parameter", multipart([('NAME="_method"', "DELETE")]), "portcullis-b0undary"),
    ("brackets", multipart([('name="_method[]"', "DELETE")]), "portcullis-b0undary"),
    ("php dot", multipart([('name=".method"', "DELETE")]), "portcullis-b0undary"),
    ("rfc 2231", multipart([("name*=UTF-8''%5Fmethod", "DELETE")]), "portcullis-b0undary"),
    ("rfc 2231 continuation", multipart([("name*0=_me; name*1=thod", "DELETE")]), "portcullis-b0undary"),
    ("single quotes", multipart([("name='_method'", "DELETE")]), "portcullis-b0undary"),
    ("escaped quote", multipart([('name="_meth\\od"', "DELETE")]), "portcullis-b0undary"),
    ("spaces around =", multipart([('name = "_method"', "DELETE")]), "portcullis-b0undary"),
    ("same value", multipart([('name="_method"', "POST")]), "portcullis-b0undary"),
    ("lf line ends", multipart([('name="_method"', "DELETE")], eol="\n"), "portcullis-b0undary"),
    ("lower-case header", multipart([('name="_method"', "DELETE")],
                                    disposition="content-disposition: form-data; "), "portcullis-b0undary"),
    ("filename too", multipart([('filename="a.txt"; name="_method"', "DELETE")]), "portcullis-b0undary"),
    ("odd boundary", multipart([('name="_method"', "DELETE")], boundary="'()+_-./:=?"), "\"'()+_-./:=?\""),
    ("long boundary", multipart([('name="_method"', "DELETE")], boundary="b" * 70), "b" * 70),
]


@pytest.mark.parametrize("case,body,boundary", MULTIPART_OVERRIDES, ids=[c[0] for c in MULTIPART_OVERRIDES])
def test_multipart_field_named_method_is_refused_before_the_backend(demo, backend, demo_token, case, body, boundary):
    status, _, mark = post(demo, demo_token, body, f"multipart/form-data; boundary={boundary}")
    assert status == 400, case
    assert reached(backend, mark) == []


@pytest.mark.parametrize("content_type", [
    'multipart/mixed; boundary="portcullis-b0undary"',
    "MULTIPART/FORM-DATA; BOUNDARY=portcullis-b0undary",
])
def test_multipart_override_is_refused_for_any_multipart_type(demo, backend, demo_token, content_type):
    body = multipart([('name="_method"', "DELETE")])
    assert_refused(backend, post(demo, demo_token, body, content_type))


@pytest.mark.parametrize("content_type,body", [
    ("multipart/form-data", multipart([('name="sku"', "1")])),
    ("multipart/form-data; boundary=", multipart([('name="sku"', "1")])),
    ("multipart/form-data; boundary=other", multipart([('name="sku"', "1")])),
    ("multipart/form-data; boundary=portcullis-b0undary", b"--portcullis-b0undary\r\nno end"),
    ("multipart/form-data; boundary=a; boundary=portcullis-b0undary", multipart([('name="sku"', "1")])),
    ('multipart/form-data; x="boundary=a"; boundary=portcullis-b0undary', multipart([('name="sku"', "1")])),
    ("multipart/form-data; boundary=portcullis-b0undary; charset=utf-16", multipart([('name="sku"', "1")])),
], ids=["no-boundary", "empty-boundary", "other-boundary", "no-closing-delimiter", "two-boundaries",
        "boundary-in-another-parameter", "utf-16"])
def test_malformed_or_ambiguous_multipart_is_refused_before_the_backend(
        demo, backend, demo_token, content_type, body):
    status, _, mark = post(demo, demo_token, body, content_type)
    assert status == 400
    assert reached(backend, mark) == []


def test_multipart_without_an_override_passes_with_its_body_intact(demo, backend, demo_token):
    body = multipart([('name="sku"', "1"), ('name="file"; filename="_method.txt"', "_method=DELETE")])
    status, _, mark = post(demo, demo_token, body, "multipart/form-data; boundary=portcullis-b0undary")
    assert status == 200
    assert [r["body"] for r in reached(backend, mark)] == [body]


# --- JSON ----------------------------------------------------------------------------------

JSON_OVERRIDES = [
    '{"_method": "DELETE"}',
    '{"sku": 1, "_method": "delete"}',
    '{"\\u005fmethod": "DELETE"}',
    '{"_\\u006Dethod": "DELETE"}',
    '{"_METHOD": "DELETE"}',
    '{"_method": "POST", "_method": "DELETE"}',
    '{"_method": "DELETE", "_method": "POST"}',
    '{"_method": ["DELETE"]}',
    '{"_method": {"m": "DELETE"}}',
    '{"_method": null}',
    '{"_method": 1}',
    ' \r\n{"_method" : "PUT"} ',
]


@pytest.mark.parametrize("body", JSON_OVERRIDES)
def test_json_override_naming_another_method_is_refused_before_the_backend(demo, backend, demo_token, body):
    assert_refused(backend, post(demo, demo_token, body.encode(), JSON))


@pytest.mark.parametrize("content_type", [
    "application/json; charset=utf-8",
    "Application/JSON",
    "application/vnd.api+json",
    "text/json",
    "application/merge-patch+json",
])
def test_json_override_is_refused_for_every_json_content_type(demo, backend, demo_token, content_type):
    assert_refused(backend, post(demo, demo_token, b'{"_method": "DELETE"}', content_type))


@pytest.mark.parametrize("body", [b'{"_method": "DELETE"', b"{'_method': 'DELETE'}", b'{"a": 1} x',
                                  b'\xef\xbb\xbf{"_method": "DELETE"}', b'{"_method": "\xff"}'])
def test_malformed_json_is_refused_before_the_backend(demo, backend, demo_token, body):
    assert_refused(backend, post(demo, demo_token, body, JSON), reason="request_body_invalid")


def test_json_with_method_only_in_nested_objects_passes_with_its_body_intact(demo, backend, demo_token):
    body = b'{"sku": 1, "item": {"_method": "DELETE"}, "list": [{"_method": "PUT"}], "note": "_method"}'
    status, payload, mark = post(demo, demo_token, body, JSON)
    assert (status, payload) == (200, {"stockout": "recorded"})
    assert [r["body"] for r in reached(backend, mark)] == [body]


def test_json_naming_the_request_method_passes(demo, backend, demo_token):
    status, _, mark = post(demo, demo_token, b'{"_method": " post "}', JSON)
    assert status == 200
    assert len(reached(backend, mark)) == 1


# --- reading the body: limits and what cannot be read --------------------------------------

def test_form_body_over_the_request_hold_limit_is_refused_with_413(demo, backend, demo_token):
    # The request hold (Envoy's buffer filter, 1 MiB) answers first at the demo's limits.
    status, _, mark = post(demo, demo_token, b"sku=" + b"1" * LIMIT, FORM)
    assert status == 413
    assert reached(backend, mark) == []


def test_duplicate_content_type_headers_are_refused(demo, backend, demo_token):
    answer = post(demo, demo_token, b'{"sku": 1}', JSON, headers=[("content-type", FORM)])
    assert_refused(backend, answer, reason="content_type_invalid")


def test_compressed_body_that_cannot_be_read_is_refused(demo, backend, demo_token):
    answer = post(demo, demo_token, gzip.compress(b"_method=DELETE"), FORM, headers=[("content-encoding", "gzip")])
    assert_refused(backend, answer, status=415, reason="request_body_encoded")


def test_json_post_without_an_override_passes_with_its_body_intact(demo, backend, demo_token):
    body = json.dumps({"sku": "A-1", "quantity": 3, "method": "DELETE", "x": "\u00e9"}).encode()
    status, payload, mark = post(demo, demo_token, body, JSON)
    assert (status, payload) == (200, {"stockout": "recorded"})
    assert [r["body"] for r in reached(backend, mark)] == [body]


def test_octet_stream_body_is_not_read_and_passes_intact(demo, backend, demo_token):
    body = b"_method=DELETE\x00\xff"
    status, _, mark = post(demo, demo_token, body, "application/octet-stream")
    assert status == 200
    assert [r["body"] for r in reached(backend, mark)] == [body]


# --- chunked request bodies (raw client, raw backend) --------------------------------------

@pytest.fixture(scope="module")
def raw_backend():
    server = RawBackend()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def raw_gw(backend, raw_backend):
    """The demo with a copy of its rendered stockout route (and its route-table entry) at
    RAW_STOCKOUT, to a raw backend that decodes chunked bodies, and the authorization
    stage's request body limit lowered to RAW_LIMIT."""
    config = load_repo_config(backend.port)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    stockout = copy.deepcopy(next(r for r in routes if r["name"] == "stockout"))
    stockout.update(name="raw-stockout", match={"path": RAW_STOCKOUT}, route={"cluster": "raw"})
    routes.insert(0, stockout)
    config["static_resources"]["clusters"].append({
        "name": "raw", "type": "STATIC", "connect_timeout": "2s",
        "load_assignment": {"cluster_name": "raw", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": raw_backend.port}}}}]}]},
    })
    set_stage_config(config, "authz", dict(stage_config(config, "authz"), max_request_body_bytes=RAW_LIMIT))
    table = stage_config(config, "routes")
    set_stage_config(config, "routes", dict(table, **{"raw-stockout": table["stockout"]}))
    with Envoy(config, name="override-raw") as envoy:
        yield envoy


def send_chunked(gateway, token, body, content_type, size=5):
    mark = uuid.uuid4().hex
    head = request_bytes(f"{RAW_STOCKOUT}?t={mark}", token=token, method="POST",
                         headers=[("Content-Type", content_type), ("Transfer-Encoding", "chunked")])
    status, _, payload, _ = raw_http(gateway.port, head + chunked(body, size=size))
    return status, payload, mark


@pytest.mark.parametrize("content_type,body", [
    (FORM, b"sku=1&quantity=2&_method=DELETE"),
    (JSON, b'{"sku": 1, "_method": "DELETE"}'),
    ("multipart/form-data; boundary=xyz", multipart([('name="_method"', "DELETE")], boundary="xyz")),
])
def test_override_in_a_chunked_body_is_refused_before_the_backend(raw_gw, raw_backend, demo_token, content_type, body):
    status, payload, mark = send_chunked(raw_gw, demo_token, body, content_type)
    assert status == 400
    assert json.loads(payload)["error"] == "method_override"
    assert raw_backend.seen(f"{RAW_STOCKOUT}?t={mark}") == []


def test_chunked_body_without_an_override_reaches_the_backend_intact(raw_gw, raw_backend, demo_token):
    body = b'{"sku": 1, "quantity": 2, "note": "' + b"n" * 200 + b'"}'
    status, _, mark = send_chunked(raw_gw, demo_token, body, JSON, size=7)
    assert status == 200
    assert [r["body"] for r in raw_backend.seen(f"{RAW_STOCKOUT}?t={mark}")] == [body]


def test_chunked_body_over_the_filter_limit_is_refused_with_413_before_the_backend(raw_gw, raw_backend, demo_token):
    status, payload, mark = send_chunked(raw_gw, demo_token, b"sku=" + b"1" * RAW_LIMIT, FORM, size=1024)
    assert status == 413
    assert json.loads(payload)["error"] == "request_too_large"
    assert raw_backend.seen(f"{RAW_STOCKOUT}?t={mark}") == []
