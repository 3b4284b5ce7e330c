"""strimzi/: every resource validates against the Strimzi CRDs, and the topics and
users keep the rules the services depend on."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, STRIMZI, load_all
from schemas import CRD_DIRS, validate

DOCS = [doc for path in sorted(STRIMZI.glob("*.yaml")) for doc in load_all(path)]


def test_strimzi_crds_are_present():
    assert (CRD_DIRS[1] / "040-Crd-kafka.yaml").is_file(), "shared/reference/strimzi-crds is missing beside the repository"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d['kind']}-{d['metadata']['name']}")
def test_resource_validates(doc):
    validate(doc, "1.30.0")


def topics():
    return {d["metadata"]["name"]: d["spec"] for d in DOCS if d["kind"] == "KafkaTopic"}


def test_the_cluster_is_kraft_with_three_controllers_and_three_zoned_brokers():
    (kafka,) = [d for d in DOCS if d["kind"] == "Kafka"]
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["unclean.leader.election.enable"] is False
    assert kafka["spec"]["kafka"]["rack"]["topologyKey"] == "topology.kubernetes.io/zone"
    assert {l["tls"] for l in kafka["spec"]["kafka"]["listeners"]} == {True, False}
    pools = {tuple(d["spec"]["roles"]): d["spec"]["replicas"] for d in DOCS if d["kind"] == "KafkaNodePool"}
    assert pools == {("controller",): 3, ("broker",): 3}


def test_topics_match_the_schemas_crate():
    source = (REPO / "schemas/src/topics.rs").read_text()
    suffixes = set(re.findall(r'format!\("\{prefix\}([a-z-]+)"\)', source))
    assert {f"cloudcord.{s}" for s in suffixes} == set(topics())


def test_co_partitioned_topics_share_one_partition_count():
    t = topics()
    counts = {t[f"cloudcord.{n}"]["partitions"] for n in ("commands", "events", "command-results", "snapshots", "projected")}
    assert len(counts) == 1


def test_events_are_kept_forever_and_never_compacted():
    events = topics()["cloudcord.events"]
    assert events["config"]["retention.ms"] == -1 and events["config"]["cleanup.policy"] == "delete"
    assert all(spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2 for spec in topics().values())


def test_only_the_command_api_may_use_transactions_and_no_user_may_do_everything():
    for user in (d for d in DOCS if d["kind"] == "KafkaUser"):
        for acl in user["spec"]["authorization"]["acls"]:
            assert "All" not in acl["operations"], user["metadata"]["name"]
            assert acl["resource"]["type"] != "cluster", user["metadata"]["name"]
            if acl["resource"]["type"] == "transactionalId":
                assert user["metadata"]["name"] == "cloudcord-command-api"
                assert acl["resource"] == {"type": "transactionalId", "name": "cloudcord.processor-", "patternType": "prefix"}
    worker = (REPO / "command-api/src/processor/worker.rs").read_text()
    assert '"{}processor-{}"' in worker, "the processor's transactional.id format changed: update strimzi/users.yaml"
