"""The monitoring files in deploy/: they parse, and every Strongroom metric they use is
one the app exposes (a renamed metric must not silently empty a panel or an alert).

With Debian's promtool installed (``make test`` fetches it), the rules are also
checked by Prometheus' own parser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from strongroom.context import get_database
from strongroom.ledger.checkpoints import make_checkpoint
from tests.auth_helpers import new_account
from tests.conftest import AppFactory

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
PROMETHEUS = ROOT / "deploy/prometheus/prometheus.yml"
BLACKBOX = ROOT / "deploy/prometheus/blackbox.yml"
DASHBOARD = ROOT / "deploy/grafana/strongroom-dashboard.json"
PROMTOOL = ROOT / ".venv/promtool/usr/bin/promtool"
TOKEN = "metrics-token-for-the-deploy-test-0123456789"

# Metrics from other exporters that the rules may use, and where they come from.
EXTERNAL = {
    "up": "Prometheus itself",
    "probe_success": "the blackbox exporter (deploy/prometheus/blackbox.yml)",
    "node_filesystem_avail_bytes": "the node exporter",
    "node_filesystem_size_bytes": "the node exporter",
}
_STRONGROOM_NAME = re.compile(r"\bstrongroom_[a-z0-9_]+\b")
_EXTERNAL_NAME = re.compile(r"\b(?:up|probe_[a-z_]+|node_[a-z_]+)\b(?=\s*[{\[=<>!]|\s*$)")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exposed_names(make_app: AppFactory) -> set[str]:
    """Every sample name the app's /metrics can carry (families without samples yet
    included, through their type)."""
    app = make_app(metrics_token=TOKEN)
    client = app.test_client()
    new_account(client)
    with app.app_context(), get_database().session() as db:
        make_checkpoint(db, app.extensions["strongroom.ledger"].signer, at=datetime.now(UTC))
        db.commit()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    names = set()
    for family in text_string_to_metric_families(response.text):
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]  # fmt: skip
    exprs += [
        variable["definition"]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    return exprs


def test_alert_rules_are_well_formed() -> None:
    found = rules()
    assert len(found) >= 8
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names))
    for rule in found:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
    # What the issue asks for: 5xx rate, readiness, checkpoint age, disk.
    assert {"StrongroomHighErrorRate", "StrongroomNotReady", "StrongroomCheckpointStale",
            "StrongroomDiskFilling"} <= set(names)  # fmt: skip


def test_every_metric_in_rules_and_dashboard_is_exposed(make_app: AppFactory) -> None:
    exposed = exposed_names(make_app)
    used = {
        "alerts": " ".join(rule["expr"] for rule in rules()),
        "dashboard": " ".join(dashboard_exprs()),
    }
    for where, text in used.items():
        names = set(_STRONGROOM_NAME.findall(text))
        assert names, where
        assert names <= exposed, f"{where} uses metrics the app does not expose: {names - exposed}"
        external = set(_EXTERNAL_NAME.findall(text))
        assert external <= set(EXTERNAL), f"{where} uses unknown external metrics: {external}"
    # The docs list them all too.
    docs = (ROOT / "docs/operations/monitoring.md").read_text()
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in exposed}
    missing = sorted(name for name in families if name not in docs)
    assert missing == [], f"docs/operations/monitoring.md does not describe {missing}"


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "strongroom-overview"
    assert dashboard["title"] == "Strongroom"
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance"}
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len(panels) >= 12
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    titles = " ".join(panel["title"].lower() for panel in panels)
    for topic in ("request rate", "error", "latency", "throughput", "sign-ins", "ledger",
                  "checkpoint", "pool", "blob store"):  # fmt: skip
        assert topic in titles, topic


def test_the_scrape_config_covers_both_ways() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"strongroom", "strongroom-app-port", "blackbox-strongroom-readyz"} <= set(jobs)
    token_job = jobs["strongroom-app-port"]
    assert token_job["metrics_path"] == "/metrics"
    assert token_job["authorization"]["type"] == "Bearer"
    assert "credentials_file" in token_job["authorization"]  # never the token inline
    blackbox = yaml.safe_load(BLACKBOX.read_text())
    for job in ("blackbox-strongroom-readyz", "blackbox-strongroom-degraded"):
        [module] = jobs[job]["params"]["module"]
        assert module in blackbox["modules"], job
    # The rules' job names are the config's.
    alert_jobs = set(re.findall(r'job=~?"([^"]+)"', ALERTS.read_text()))
    for pattern in alert_jobs:
        assert any(re.fullmatch(pattern, job) for job in jobs), pattern


def test_the_degraded_probe_matches_the_readiness_body() -> None:
    blackbox = yaml.safe_load(BLACKBOX.read_text())
    [regex] = blackbox["modules"]["strongroom_not_degraded"]["http"]["fail_if_body_matches_regexp"]
    assert re.search(regex, json.dumps({"status": "ready", "degraded": ["redis"]}))
    assert re.search(regex, '{"degraded":["redis"],"failing":[]}')
    assert not re.search(regex, json.dumps({"status": "ready", "degraded": []}))
    assert not re.search(regex, '{"degraded":[],"failing":["database"]}')


def promtool() -> str | None:
    return str(PROMTOOL) if PROMTOOL.exists() else shutil.which("promtool")


needs_promtool = pytest.mark.skipif(
    promtool() is None, reason="promtool is not installed (make test fetches Debian's)"
)


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = promtool()
    assert tool is not None
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = run_promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@needs_promtool
def test_promtool_accepts_the_scrape_config(tmp_path: Path) -> None:
    token_file = tmp_path / "strongroom-metrics-token"
    token_file.write_text(TOKEN)
    config = PROMETHEUS.read_text().replace(
        "/etc/prometheus/secrets/strongroom-metrics-token", str(token_file)
    )
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    result = run_promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
