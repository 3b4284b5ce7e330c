"""Schemathesis against the committed OpenAPI document, authenticated, with a fixed
seed: every operation is fuzzed (its examples, the coverage phase's boundary values
and random inputs) and every response must be no 5xx, a documented status with the
documented content type, and a body valid against the documented schema — Discord's
own, for the Discord objects.

`POST /auth/logout` is left out: it ends the fuzzer's session, after which every
request is a 401 (its behaviour has integration tests in command-api).
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import time
from pathlib import Path

from bundle import bundle
from stack import Answer, Stack, call

SEED = 20261128
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def strip_ansi(line: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", line)


def world(stack: Stack) -> tuple[str, dict[str, str]]:
    """A user owning a guild with a channel, a message, a role and an invite: the
    token, and the ids the path parameters' examples name."""
    api = f"{stack.base_url}/api/v10"
    name = f"fuzz_{time.time_ns():x}"

    def created(answer: Answer, status: int = 200) -> dict:
        assert answer.status == status, answer
        assert isinstance(answer.body, dict)
        return answer.body

    registered = call("POST", f"{api}/auth/register", {"username": name, "password": "fuzz-password-1"})
    token = created(registered, 201)["token"]
    # The read side answers for the new account once it shows the registration.
    me = created(call("GET", f"{api}/users/@me", token=token, position=registered.position))
    guild = created(call("POST", f"{api}/guilds", {"name": "Fuzzed"}, token), 201)
    channel = created(call("POST", f"{api}/guilds/{guild['id']}/channels", {"name": "fuzzed"}, token), 201)
    message = created(call("POST", f"{api}/channels/{channel['id']}/messages", {"content": "fuzz me"}, token))
    role = created(call("POST", f"{api}/guilds/{guild['id']}/roles", {"name": "fuzzed"}, token))
    invite = created(call("POST", f"{api}/channels/{channel['id']}/invites", {}, token))
    return token, {
        "guild_id": guild["id"],
        "channel_id": channel["id"],
        "message_id": message["id"],
        "role_id": role["id"],
        "user_id": me["id"],
        "overwrite_id": role["id"],
        "code": invite["code"],
        "emoji": "🔥",
    }


def test_the_api_keeps_its_openapi_contract(stack: Stack, tmp_path: Path) -> None:
    token, examples = world(stack)
    schema = tmp_path / "cloudcord-bundled.json"
    schema.write_text(json.dumps(bundle(examples)))
    report = Path(os.environ.get("API_TEST_REPORT", tmp_path / "junit.xml"))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(schema),
        "--url",
        f"{stack.base_url}/api/v10",
        "--header",
        f"Authorization: Bearer {token}",
        "--seed",
        str(SEED),
        "--checks",
        CHECKS,
        "--max-examples",
        os.environ.get("API_TEST_MAX_EXAMPLES", "25"),
        "--exclude-path",
        "/auth/logout",
        # One worker: hypothesis's lambda descriptions are not thread-safe on
        # CPython 3.11 ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    output = ARTIFACTS / "schemathesis.txt"
    output.write_text(run.stdout + run.stderr)
    print(run.stdout[-30000:])
    print(run.stderr[-5000:], file=sys.stderr)
    assert run.returncode == 0, f"schemathesis found contract violations: {output}"
    # What no response shows: a service that logged an error while being fuzzed (a
    # projector stalled by a record it cannot store answers every later read late,
    # not wrongly).
    errors = [line for line in stack.log().splitlines() if " ERROR " in strip_ansi(line)]
    assert not errors, "the stack logged errors:\n" + "\n".join(errors[:20])
