"""Shared fixtures of the ops tests (`make ops-test`): paths, tools, and the chart
rendered with each values file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
CHART = K8S / "cloudcord"
STRIMZI = REPO / "strimzi"
#: The lowest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest
#: whose schemas kubernetes-validate ships: manifests must validate against both.
KUBE_VERSIONS = ("1.30.0", "1.37.0")
#: name → extra helm arguments.
VALUES = {
    "default": [],
    "development": ["-f", str(K8S / "values/development.yaml")],
    "production": ["-f", str(K8S / "values/production.yaml")],
}


def tool(name: str) -> str:
    """A tool from OPS_<NAME> (set by the Makefile) or PATH."""
    path = os.environ.get(f"OPS_{name.upper().replace('-', '_')}") or shutil.which(name)
    if not path:
        pytest.fail(f"{name} is missing: run the tests through `make ops-test`")
    return path


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Runs a command; fails the test with its output when it fails."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def render(values: str, kube_version: str = KUBE_VERSIONS[0]) -> list[dict]:
    out = run(
        tool("helm"), "template", "cloudcord", str(CHART), "--namespace", "cloudcord",
        "--kube-version", kube_version, *VALUES[values],
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="session", params=sorted(VALUES))
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
