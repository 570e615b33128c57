"""Leaks found in production reach an operator (SPEC section 5, issue 21): the shipped
Prometheus rules (deploy/prometheus/portcullis-rules.yaml) and Grafana dashboard
(deploy/grafana/portcullis-decisions.json).

- The rules pass `promtool check rules` and their unit tests
  (tests/prometheus/portcullis-rules.test.yaml, `promtool test rules`).
- The names they and the dashboard use are the ones documented in docs/metrics.md
  (each proven against a real Envoy by test_metrics.py and test_jwks.py) and, for
  Envoy's own, the ones a real Envoy exports.
- A real Prometheus (Debian's), started here with the shipped rules on a free loopback
  port, scrapes a real Envoy running the demo configuration: a leak provoked on the demo
  fires the alert, read back through /api/v1/alerts, and every dashboard query runs on
  it and shows the demo's traffic.

Each live test gets its own Envoy and Prometheus, so counters and alert states start
from nothing (a Portcullis counter exists from its first increment)."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import tokens
from harness.gateway import Envoy, load_repo_config, wait_for
from harness.prometheus import Prometheus, binary

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "portcullis-rules.yaml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "portcullis-rules.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "portcullis-decisions.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"

LEAK = "/accounts/demostore/contracts/999"  # the backend returns qa's contract: blocked, 502
FILTERED = "/accounts/demostore/contracts"  # the backend lists one of qa's: removed, 200


# --- reading the shipped files ------------------------------------------------------------

def rules():
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_targets():
    """(panel title, target) for every query of the dashboard."""
    return [(panel["title"], target) for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def rule_expressions():
    return [(rule.get("alert") or rule["record"], rule["expr"]) for rule in rules()]


def dashboard_expressions():
    return [(f"{title} {target['refId']}", target["expr"]) for title, target in dashboard_targets()]


STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
NAME_REGEX = re.compile(r'__name__\s*=~\s*"((?:[^"\\]|\\.)*)"')
MATCHERS = re.compile(r"\{[^}]*\}")
METRIC = re.compile(r"\b(?:portcullis|envoy)[a-zA-Z0-9_:]*")


def metric_names(expr):
    """The metric names an expression selects, and the `__name__` regular expressions."""
    regexes = [r.replace("\\\\", "\\") for r in NAME_REGEX.findall(expr)]
    bare = MATCHERS.sub("", STRING.sub('""', expr))
    return set(METRIC.findall(bare)), regexes


def documented_names():
    """Every counter name docs/metrics.md lists: the counter table's names
    (`portcullis_shadow_403_<reason>` as a wildcard) and `portcullis_<status>_<reason>`
    for each reason of the reasons table (`path_*` stays a wildcard)."""
    text = METRICS_DOC.read_text()
    names = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not line.startswith("|"):
            continue
        first = re.fullmatch(r"`(portcullis_[a-z0-9_]+(?:<reason>)?)`", cells[0])
        if first:
            names.add(first.group(1).replace("<reason>", "*"))
        if re.fullmatch(r"\d{3}", cells[0]):
            for reason in re.findall(r"`([a-z0-9_*]+)`", cells[1]):
                names.add(f"portcullis_{cells[0]}_{reason}")
    return names


def is_documented(name, documented):
    return any(re.fullmatch(re.escape(d).replace(r"\*", "[a-z0-9_]+"), name) for d in documented)


# --- the rules ------------------------------------------------------------------------------

def test_rules_pass_promtool_check():
    run = subprocess.run([binary("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(rules())} rules found" in run.stdout


def test_rules_pass_their_unit_tests():
    run = subprocess.run([binary("promtool"), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_alert_has_a_unit_test_that_fires_it():
    suite = yaml.safe_load(RULE_TESTS.read_text())
    fired = {case["alertname"] for test in suite["tests"] for case in test.get("alert_rule_test", [])
             if case.get("exp_alerts")}
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts - fired == set()


def test_leak_alerts_fire_without_delay():
    """A leak is always worth a page: no `for:` wait."""
    leak_rules = {r["alert"]: r for r in rules() if r.get("alert") in ("PortcullisLeakBlocked", "PortcullisLeakFiltered")}
    assert sorted(leak_rules) == ["PortcullisLeakBlocked", "PortcullisLeakFiltered"]
    for rule in leak_rules.values():
        assert rule.get("for", "0m") in ("0m", "0s", 0)
        assert rule["labels"]["severity"] == "critical"


# --- the dashboard --------------------------------------------------------------------------

def test_dashboard_loads_as_a_grafana_dashboard():
    """The shape of Grafana's (classic) dashboard JSON model: what an import needs, and
    panels that can be drawn: a known type, a place on the 24-column grid that no other
    panel takes, a Prometheus data source, queries with distinct refIds."""
    board = dashboard()
    assert board["title"] and re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", board["uid"])
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids, cells = set(), set()
    for panel in board["panels"]:
        assert panel["type"] in {"row", "stat", "timeseries"}, panel["type"]
        assert panel["id"] not in ids and panel["title"]
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel at {(x, y)}"
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"] and target["expr"].strip()
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval", "__range"}
            assert used <= set(variables), f"{panel['title']}: unknown variables {used - set(variables)}"


def test_dashboard_has_panels_for_every_decision_counter():
    names = set()
    for _, expr in dashboard_expressions():
        names |= metric_names(expr)[0]
    # portcullis_<status>_<reason> and portcullis_shadow_403_<reason> through the recorded series
    documented = {n for n in documented_names() if not re.match(r"portcullis_\d{3}_", n) and "*" not in n}
    assert documented - names == set(), "counters of docs/metrics.md without a panel"
    assert {"portcullis:refused_total", "portcullis:shadow_refused_total"} <= names


@pytest.mark.parametrize("source", [rule_expressions, dashboard_expressions], ids=["rules", "dashboard"])
def test_metric_names_are_documented_or_recorded(source):
    """Portcullis names are in docs/metrics.md, `__name__` patterns match documented
    names, recorded names are recorded by the shipped rules; Envoy's own names are
    checked against a real Envoy in test_envoy_metric_names_are_exported_by_envoy."""
    documented = documented_names()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for where, expr in source():
        names, regexes = metric_names(expr)
        for name in names:
            if name.startswith("envoy_"):
                continue
            assert name in recorded or is_documented(name, documented), f"{where}: {name} is not documented"
        for regex in regexes:
            matched = [d for d in documented if re.fullmatch(regex, d.replace("*", "x"))]
            assert matched, f"{where}: {regex} matches no documented name"


def test_envoy_metric_names_are_exported_by_envoy(demo):
    exported = set(re.findall(r"^# TYPE (\S+) ", demo.stats(), re.M))
    envoy_names = set()
    for _, expr in rule_expressions() + dashboard_expressions():
        envoy_names |= {n for n in metric_names(expr)[0] if n.startswith("envoy_")}
    assert envoy_names, "the ratio alerts read Envoy's request counter"
    assert envoy_names - exported == set()


# --- a real Prometheus scraping a real Envoy ---------------------------------------------

@pytest.fixture
def monitored(backend):
    """A fresh Envoy with the demo configuration, and a fresh Prometheus scraping its
    admin endpoint every second with the shipped rules, evaluated every second."""
    with Envoy(load_repo_config(backend.port), name="prometheus-demo") as gw:
        with Prometheus([f"127.0.0.1:{gw.admin_port}"], rule_files=[RULES]) as prom:
            yield gw, prom


@pytest.fixture
def token(demo_key):
    return demo_key.sign(tokens.claims())


def wait_for_counters_in_rules(gw, prom):
    """A refusal on the gateway, then its recorded series: the rules have been evaluated
    on a scrape holding Portcullis counters."""
    assert gw.get("/whoami").status_code == 401
    return wait_for(lambda: prom.query('portcullis:refused_total{status="401", reason="token_missing"}'),
                    timeout=30, what="portcullis:refused_total from a scrape")


def firing(prom, alertname):
    return [a for a in prom.alerts(alertname) if a["state"] == "firing"]


def test_blocked_leak_fires_the_leak_alert(monitored, token):
    gw, prom = monitored
    wait_for_counters_in_rules(gw, prom)
    rule = prom.rule("PortcullisLeakBlocked")
    assert rule["health"] == "ok" and rule["state"] == "inactive", rule
    assert prom.alerts("PortcullisLeakBlocked") == []

    r = gw.get(LEAK, token=token)
    assert r.status_code == 502 and r.json()["error"] == "account_leak"

    [alert] = wait_for(lambda: firing(prom, "PortcullisLeakBlocked"), timeout=30, what="PortcullisLeakBlocked firing")
    assert alert["labels"]["instance"] == f"127.0.0.1:{gw.admin_port}"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["description"].startswith(
        f"127.0.0.1:{gw.admin_port}: 1 backend response(s) carrying a foreign account id")


def test_filtered_leak_fires_the_filtered_leak_alert(monitored, token):
    gw, prom = monitored
    wait_for_counters_in_rules(gw, prom)
    assert prom.rule("PortcullisLeakFiltered")["state"] == "inactive"

    r = gw.get(FILTERED, token=token)
    assert r.status_code == 200 and {c["contractOwner"] for c in r.json()} == {"demostore"}

    [alert] = wait_for(lambda: firing(prom, "PortcullisLeakFiltered"), timeout=30, what="PortcullisLeakFiltered firing")
    assert alert["labels"]["instance"] == f"127.0.0.1:{gw.admin_port}"
    assert prom.alerts("PortcullisLeakBlocked") == []


# Panels the demo cannot move: no route in shadow mode, no remote JWKS.
NOT_ON_THE_DEMO = {"Shadow mode: would-be refusals by reason", "JWKS fetches"}


def on_prometheus(expr):
    """A dashboard query as Grafana would send it, with all gateways selected."""
    return (expr.replace("$__rate_interval", "5s").replace("$__range", "1h")
            .replace("$job", ".+").replace("$instance", ".+"))


def test_dashboard_shows_the_demo_traffic(monitored, token):
    gw, prom = monitored
    demo_traffic = [("/whoami", token, 200), ("/whoami", None, 401), ("/finance/reports", token, 403),
                    ("/accounts/qa;x/contracts/1", token, 400), (LEAK, token, 502), (FILTERED, token, 200)]
    for path, bearer, status in demo_traffic:
        assert gw.get(path, token=bearer).status_code == status, path
    wait_for_counters_in_rules(gw, prom)

    panels = {}
    for title, target in dashboard_targets():
        panels.setdefault(title, []).append(on_prometheus(target["expr"]))

    def panels_without_data():
        # prom.query raises on a query Prometheus refuses, so every query is checked.
        results = {title: [prom.query(expr) for expr in exprs] for title, exprs in panels.items()}
        return sorted(t for t, rs in results.items() if t not in NOT_ON_THE_DEMO and not any(rs))

    missing = {}

    def every_panel_has_data():
        missing["panels"] = panels_without_data()
        return not missing["panels"]

    try:
        wait_for(every_panel_has_data, timeout=30, what="data on every panel")
    except AssertionError as e:
        raise AssertionError(f"{e}: no data on {missing['panels']}") from None
    for title in ("Blocked leaks", "Filtered leaks"):
        [expr] = panels[title]
        [sample] = prom.query(expr)
        assert float(sample["value"][1]) == 1, title
