"""The GitHub workflows: valid against the github-workflow schema (vendored in
check-jsonschema, offline) and clean under zizmor's offline audits."""

from __future__ import annotations

import yaml

from conftest import REPO, run, tool

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))


def test_workflows_match_the_schema():
    assert WORKFLOWS
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))


def test_zizmor_finds_nothing():
    run(tool("zizmor"), "--offline", "--no-progress", str(REPO / ".github/workflows"))


def test_ci_runs_make_test_and_cargo_deny_and_deploys_only_from_main():
    (ci,) = [yaml.safe_load(w.read_text()) for w in WORKFLOWS if w.name == "ci.yml"]
    steps = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in ci["jobs"].items()}
    assert "make test" in steps["test"] and "make deny" in steps["deny"]
    assert "make images" in steps["images"] and "skopeo copy" in steps["images"]
    assert set(ci["jobs"]["images"]["needs"]) == {"test", "deny"}
    assert "refs/heads/main" in ci["jobs"]["images"]["if"]
    assert "k8s/values/production.yaml" in steps["deploy"]
    for job in ci["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert len(step["uses"].split("@")[1]) == 40, "actions are pinned by commit"
