"""Alert rules, Alertmanager, dashboards, and the live check: the five services
run, a real Prometheus (Debian's) scrapes each of them, and every metric name the
alerts and dashboards use is one a service exports (or one of the few from
cluster-only exporters in external-metrics.txt)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import promql_parser
import pytest
import websockets
import yaml

import live_stack
from conftest import K8S, REPO, run, tool

RULES = K8S / "cloudcord/files/alerts.yaml"
RULE_TESTS = K8S / "monitoring/tests/alerts.test.yaml"
DASHBOARDS = sorted((K8S / "cloudcord/files/dashboards").glob("*.json"))
JOBS = live_stack.SERVICES


def test_promtool_checks_the_rules_and_the_scrape_config():
    run(tool("promtool"), "check", "rules", str(RULES))
    run(tool("promtool"), "check", "config", "--syntax-only", str(K8S / "monitoring/prometheus.yml"))


def test_promtool_unit_tests_pass():
    run(tool("promtool"), "test", "rules", str(RULE_TESTS))


def test_every_alert_is_tested_firing_and_not_firing():
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    firing, quiet = set(), set()
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"


def test_amtool_accepts_the_alertmanager_config():
    run(tool("amtool"), "check-config", str(K8S / "monitoring/alertmanager.yml"))


def test_alertmanager_routes_pages_to_slack_and_mail():
    def receivers(labels):
        out = run(tool("amtool"), "config", "routes", "test", "--config.file",
                  str(K8S / "monitoring/alertmanager.yml"), *labels).stdout
        return set(out.replace(",", " ").split())
    assert receivers(["severity=page"]) == {"on-call"}
    assert receivers(["severity=ticket", "category=security"]) == {"security", "team"}
    config = yaml.safe_load((K8S / "monitoring/alertmanager.yml").read_text())
    on_call = next(r for r in config["receivers"] if r["name"] == "on-call")
    assert on_call["slack_configs"] and on_call["email_configs"]


def test_grafana_provisioning_points_at_the_dashboards():
    for path in (K8S / "monitoring/grafana/provisioning").rglob("*.yaml"):
        assert yaml.safe_load(path.read_text())["apiVersion"] == 1
    names = {p.stem for p in DASHBOARDS}
    assert names >= {"overview", "command-api", "query-api", "projectors", "gateway-ws", "sfu", "kafka"}
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every alert, recording rule and dashboard target."""
    found = []
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            found.append((f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]))
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return found


def metric_names(expr) -> set[str]:
    names = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
        elif isinstance(node, promql_parser.MatrixSelector):
            stack.append(node.vector_selector)
        elif isinstance(node, promql_parser.Call):
            stack.extend(node.args)
        elif isinstance(node, promql_parser.BinaryExpr):
            stack += [node.lhs, node.rhs]
        elif isinstance(node, (promql_parser.AggregateExpr, promql_parser.ParenExpr,
                               promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
            stack.append(node.expr)
    return names


def test_every_expression_parses():
    for where, expr in expressions():
        try:
            promql_parser.parse(expr)
        except Exception as error:  # the parser raises ValueError and friends
            pytest.fail(f"{where}: {error}\n{expr}")


def sample_names(exposition: str) -> set[str]:
    """The sample names of an OpenMetrics text (metric_total, _bucket, …)."""
    return {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line and not line.startswith("#")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    bin_dir = Path(os.environ.get("OPS_BIN_DIR", REPO / "target/debug"))
    stack = live_stack.Stack(bin_dir=bin_dir, state_dir=tmp_path_factory.mktemp("stack"))
    try:
        stack.start()
        drive_traffic(stack)
        yield stack
    finally:
        stack.stop()


def drive_traffic(stack: live_stack.Stack) -> None:
    """Writes, reads, a gateway session, a refused command, a bad token and a rate
    limit, so that the labelled series the alerts and dashboards use exist."""
    request = live_stack.request
    write, read = f"{stack.write_url}/api/v10", f"{stack.read_url}/api/v10"
    names = [f"ops{uuid.uuid4().hex[:10]}" for _ in range(2)]
    tokens = [request("POST", f"{write}/auth/register", {"username": n, "password": "correct horse battery"})["token"]
              for n in names]
    guild = request("POST", f"{write}/guilds", {"name": "ops"}, tokens[0])["id"]
    channel = request("POST", f"{write}/guilds/{guild}/channels", {"name": "chat", "type": 0}, tokens[0])["id"]
    request("POST", f"{write}/channels/{channel}/messages", {"content": "hello"}, tokens[0])
    # Not a member: the processor rejects the command.
    request("POST", f"{write}/guilds/{guild}/channels", {"name": "no", "type": 0}, tokens[1], expect=(403, 404))
    # The read model shows the message once the projectors applied it.
    deadline = time.monotonic() + 30
    while not request("GET", f"{read}/channels/{channel}/messages?limit=5", None, tokens[0], expect=(200, 404)):
        assert time.monotonic() < deadline, "the message never became readable"
        time.sleep(0.5)
    request("GET", f"{write}/users/@me", None, "not-a-token", expect=(401, 404, 405))
    # A route bucket holds 10 requests per 10 s: the rest are refused with 429.
    _ = [request("POST", f"{write}/channels/{channel}/typing", None, tokens[0], expect=(204, 429)) for _ in range(15)]
    request("POST", f"{write}/auth/login", {"login": names[0], "password": "wrong"}, expect=(400, 401))
    asyncio.run(gateway_session(stack.gateway_url, tokens[0]))


async def gateway_session(url: str, token: str) -> None:
    async with websockets.connect(f"{url}/?v=10&encoding=json") as ws:
        hello = json.loads(await ws.recv())
        assert hello["op"] == 10
        await ws.send(json.dumps({"op": 2, "d": {"token": token, "intents": 513,
                                                 "properties": {"os": "linux", "browser": "ops", "device": "ops"}}}))
        ready = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert ready["t"] == "READY", ready
    # A bad token: the gateway closes with 4004 (a counted close code).
    async with websockets.connect(f"{url}/?v=10&encoding=json") as ws:
        await ws.recv()
        await ws.send(json.dumps({"op": 2, "d": {"token": "bad", "intents": 0,
                                                 "properties": {"os": "linux", "browser": "ops", "device": "ops"}}}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 30)


def external_metrics() -> set[str]:
    lines = (Path(__file__).parent / "external-metrics.txt").read_text().splitlines()
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


def test_every_metric_used_is_exported_by_a_running_service(stack):
    exported = set()
    for service in JOBS:
        exported |= sample_names(stack.scrape(service))
    recorded = {r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r}
    missing = {}
    for where, expr in expressions():
        for name in metric_names(promql_parser.parse(expr)) - exported - recorded - external_metrics() - {"up"}:
            missing.setdefault(name, []).append(where)
    assert not missing, json.dumps(missing, indent=1)
    assert external_metrics().isdisjoint(exported), "an external metric is exported by a service now: drop it from the list"


def prometheus_query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def test_prometheus_scrapes_every_service_and_evaluates_every_expression(stack, tmp_path):
    port = live_stack.free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{stack.admin_ports[job]}"]}]}
            for job in JOBS
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = open(tmp_path / "prometheus.log", "wb")
    prometheus = subprocess.Popen(
        [tool("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        pending = set(JOBS)
        while pending and time.monotonic() < deadline:
            time.sleep(1)
            for job in sorted(pending):
                try:
                    result = prometheus_query(base, f'cloudcord_build_info{{job="{job}",service="{job}"}} == 1')
                except urllib.error.URLError:  # not listening yet
                    continue
                if result.get("status") == "success" and result["data"]["result"]:
                    pending.discard(job)
        assert not pending, f"Prometheus has no data from {sorted(pending)}:\n{(tmp_path / 'prometheus.log').read_text()[-2000:]}"
        up = prometheus_query(base, "up")["data"]["result"]
        assert {r["metric"]["job"]: r["value"][1] for r in up} == {job: "1" for job in JOBS}
        # Prometheus itself parses and evaluates every rule and panel expression.
        failures = []
        for where, expr in expressions():
            answer = prometheus_query(base, expr)
            if answer.get("status") != "success":
                failures.append(f"{where}: {answer.get('error')}")
        assert not failures, "\n".join(failures)
        rules = json.loads(urllib.request.urlopen(f"{base}/api/v1/rules", timeout=10).read())["data"]["groups"]
        assert all(r["health"] == "ok" for g in rules for r in g["rules"] if r.get("lastEvaluation", "").startswith("2")), rules
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
