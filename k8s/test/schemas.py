"""Validation of rendered manifests: built-in kinds against Kubernetes' own schemas
(kubernetes-validate, offline), custom resources against their CRDs'
openAPIV3Schema (strict: an unknown field is an error, as with
`kubectl apply --validate=strict`)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
#: Vendored CRDs (k8s/test/crds/README.md says where each comes from) and
#: the Strimzi CRDs the project keeps in shared/reference.
CRD_DIRS = [HERE / "crds", HERE.parents[2] / "shared/reference/strimzi-crds"]


def _strict(schema):
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) → strict JSON schema, from every CRD found."""
    found = {}
    for directory in CRD_DIRS:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                for version in doc["spec"]["versions"]:
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    schema.setdefault("properties", {})
                    schema["properties"].update(
                        apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"type": "object"}
                    )
                    found[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return found


def validate(doc: dict, kube_version: str) -> None:
    """Raises with a readable message when `doc` is not a valid object."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    name = f"{key[1]} {doc.get('metadata', {}).get('name')}"
    if key in crd_schemas():
        errors = sorted(
            jsonschema.Draft7Validator(crd_schemas()[key]).iter_errors(doc), key=lambda e: list(e.path)
        )
        if errors:
            raise AssertionError(
                f"{name}: " + "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
            )
        return
    if "." in key[0].split("/")[0] and not key[0].endswith(".k8s.io/v1") and key[0].split("/")[0] not in (
        "apps", "policy", "autoscaling", "batch"
    ):
        raise AssertionError(f"{name}: no CRD schema for {key[0]} — vendor its CRD into k8s/test/crds")
    try:
        kubernetes_validate.validate(doc, kube_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        raise AssertionError(f"{name} (Kubernetes {kube_version}): {error.message} at {list(error.path)}") from None
