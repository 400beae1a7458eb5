"""The `observability` profile's configuration, ready for the operations issue: Prometheus
and Alertmanager accept it (promtool, amtool), and it scrapes the services compose.yaml
runs on the ports they serve."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.deploy.conftest import ROOT, compose_config, passes, tool

PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def test_promtool_accepts_the_prometheus_configuration() -> None:
    promtool = tool("promtool", "apt-get install prometheus (scripts/setup test)")
    passes(promtool, "check", "config", "--syntax-only", str(PROMETHEUS))


def test_amtool_accepts_the_alertmanager_configuration() -> None:
    amtool = tool("amtool", "apt-get install prometheus-alertmanager (scripts/setup test)")
    passes(amtool, "check-config", str(ROOT / "deploy" / "alertmanager" / "alertmanager.yml"))


def test_prometheus_scrapes_the_api_and_every_worker_where_they_serve() -> None:
    services = compose_config("observability")["services"]
    scrape = {
        job["job_name"]: job for job in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]
    }
    (api_target,) = scrape["fusionflow-api"]["static_configs"][0]["targets"]
    assert api_target == "api:8000"
    assert {p["target"] for p in services["api"]["ports"]} == {8000}
    (workers,) = scrape["fusionflow-worker"]["dns_sd_configs"]
    assert workers["names"] == ["worker"]
    command = services["worker"]["command"]
    assert workers["port"] == int(command[command.index("--metrics-port") + 1])
    # Compose v1 renders volumes as "source:target:mode".
    mounts = {v.split(":")[0]: v.split(":")[1] for v in services["prometheus"]["volumes"]}
    assert mounts[str(PROMETHEUS.parent)] == "/etc/prometheus"
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    assert Path(ROOT / "deploy/grafana/provisioning").is_dir()
