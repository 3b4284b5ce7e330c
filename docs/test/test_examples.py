"""The examples of the documentation, run as written: the shell blocks of a page
are taken from its Markdown, so a page that stops working fails the build."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from conftest import REPO
from stack import call

PAGES = REPO / "docs" / "src" / "examples"
#: How long an example may take against a stack that is up.
EXAMPLE_TIMEOUT_S = 120


def blocks(page: Path, language: str) -> list[str]:
    """The page's fenced blocks of `language` (```sh … ```), in order."""
    found = re.findall(rf"^```{language}\n(.*?)^```$", page.read_text(), re.MULTILINE | re.DOTALL)
    assert found, f"{page} has no ```{language} blocks"
    return found


def run_pages(pages: list[Path], env: dict[str, str], cwd: Path, then: str = "") -> str:
    """Every block of the pages in one bash, in order, stopping at the first failing
    command; a page may use what an earlier one set, and so may `then`."""
    script = "\n".join(["set -euo pipefail", *(block for page in pages for block in blocks(page, "sh")), then])
    done = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT_S,
    )
    names = ", ".join(page.name for page in pages)
    assert done.returncode == 0, f"{names} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_curl_walkthrough_posts_once_and_reads_its_message(stack, tmp_path: Path) -> None:
    out = run_pages([PAGES / "curl.md"], {"API": f"{stack.base_url}/api/v10"}, tmp_path)
    lines = out.splitlines()
    assert re.fullmatch(r"alice_\d+: hello", lines[-1]), out
    assert sum(line.endswith(": hello") for line in lines) == 1, out


def test_the_audit_walkthrough_verifies_the_guild_and_finds_tampering(stack, tmp_path: Path) -> None:
    env = {
        "API": f"{stack.base_url}/api/v10",
        "CLOUDCORD": str(stack.binary),
        # The stack's own topics, as `cloudcord audit` reads them.
        "CLOUDCORD__KAFKA__TOPIC_PREFIX": f"{stack.namespace}.",
    }
    out = run_pages([PAGES / "curl.md", PAGES / "audit.md"], env, tmp_path)
    exported = (tmp_path / "guild.jsonl").read_text().splitlines()
    types = [json.loads(line)["event"]["type"] for line in exported]
    assert types[0] == "GuildCreated" and types.count("MessageSent") == 1, types
    assert out.splitlines()[-1] == "tampering found", out


def test_a_replay_of_the_read_models_matches_the_live_ones(stack, tmp_path: Path) -> None:
    env = {
        "API": f"{stack.base_url}/api/v10",
        "CLOUDCORD": str(stack.binary),
        # The stack's own topics, schema and database, as `cloudcord replay` and
        # `cloudcord digest` read them.
        "CLOUDCORD__KAFKA__TOPIC_PREFIX": f"{stack.namespace}.",
        "CLOUDCORD__PROJECTORS__POSTGRES_SCHEMA": stack.namespace,
        "CLOUDCORD__MONGO__DATABASE": stack.namespace,
    }
    out = run_pages([PAGES / "curl.md", PAGES / "replay.md"], env, tmp_path)
    for store in ("postgres", "mongo"):
        assert re.search(rf"^{store}: [1-9]\d* events into .* digest [0-9a-f]{{16,}}$", out, re.MULTILINE), out
    assert out.splitlines()[-1] == "the live read models are exactly what the log says", out


def test_the_python_consumer_reads_the_walkthroughs_message(stack, tmp_path: Path) -> None:
    out = run_pages([PAGES / "curl.md"], {"API": f"{stack.base_url}/api/v10"}, tmp_path)
    guild = re.search(r"^guild (\d+),", out, re.MULTILINE)
    assert guild, out
    (consumer_code,) = blocks(PAGES / "python-consumer.md", "python")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": os.environ.get("CLOUDCORD__KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        "EVENTS_TOPIC": f"{stack.namespace}.events",
        "SCHEMAS": str(REPO / "schemas" / "json"),
    }
    # It consumes forever, as a data team's consumer does: stop it once it printed
    # the walkthrough's message (its group's offsets make later runs start there).
    consumer = subprocess.Popen(
        [sys.executable, "-u", "-c", consumer_code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(EXAMPLE_TIMEOUT_S, consumer.kill)
    watchdog.start()
    wanted = f"guild {guild.group(1)} 3 dev.cloudcord.guild.MessageSent.v1"
    try:
        assert consumer.stdout is not None
        seen = any(line.strip() == wanted for line in consumer.stdout)
    finally:
        watchdog.cancel()
        consumer.kill()
        _, errors = consumer.communicate()
    assert seen, f"the consumer never printed {wanted!r}:\n{errors}"


def answers_ping(stack, tmp_path: Path, bot_command: list[str], env: dict[str, str], ready: str) -> None:
    """Sets up the bots page's bot, starts `bot_command` with its token in `env` and
    `BOT_TOKEN`, sends `!ping` once it prints a line starting with `ready` (the
    guild's events reach it from then on), and waits for its `pong` reply."""
    api = f"{stack.base_url}/api/v10"
    out = run_pages(
        [PAGES / "curl.md", PAGES / "bots.md"], {"API": api}, tmp_path, then='echo "$TOKEN $CHANNEL $BOT_TOKEN"'
    )
    token, channel, bot_token = out.splitlines()[-1].split()
    env = {**os.environ, **env, "BOT_TOKEN": bot_token}
    bot = subprocess.Popen(bot_command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(EXAMPLE_TIMEOUT_S, bot.kill)
    watchdog.start()
    try:
        assert bot.stdout is not None
        if not any(line.startswith(ready) for line in bot.stdout):
            bot.kill()
            raise AssertionError(f"the bot never printed {ready!r}:\n{bot.communicate()[1]}")
        sent = call("POST", f"{api}/channels/{channel}/messages", {"content": "!ping"}, token=token)
        assert sent.status == 200, sent.body
        deadline = time.monotonic() + EXAMPLE_TIMEOUT_S
        while time.monotonic() < deadline:
            page = call("GET", f"{api}/channels/{channel}/messages?limit=10", token=token)
            replies = [m for m in page.body if m["content"] == "pong"]
            if replies:
                assert replies[0]["author"]["bot"] is True
                assert replies[0]["message_reference"]["message_id"] == sent.body["id"]
                return
            time.sleep(0.5)
        bot.kill()
        raise AssertionError(f"no pong:\n{bot.communicate()[1]}")
    finally:
        watchdog.cancel()
        bot.kill()
        _, errors = bot.communicate()
        print(errors)


def test_the_discord_js_bot_answers_ping(stack, tmp_path: Path) -> None:
    (bot_code,) = blocks(PAGES / "bots.md", "js")
    # Beside node_modules, so its import resolves.
    script = REPO / "docs" / "test" / "artifacts" / "bot.mjs"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(bot_code)
    # discord.js emits `ready` once every guild of READY has had its GUILD_CREATE.
    answers_ping(stack, tmp_path, ["node", str(script)], {"DISCORD_API": f"{stack.base_url}/api"}, "ready as ")


def test_the_twilight_bot_answers_ping(stack, tmp_path: Path) -> None:
    # The page includes the example's source file, which `make docs-test` builds.
    (included,) = blocks(PAGES / "bots.md", "rust")
    assert included.strip() == "{{#include ../../generator/examples/twilight_bot.rs}}"
    bot = os.environ["TWILIGHT_BOT"]
    host = stack.base_url.removeprefix("http://")
    answers_ping(stack, tmp_path, [bot], {"CLOUDCORD_HOST": host}, "in guild ")


def test_the_front_door_serves_this_site_at_docs(stack) -> None:
    with urllib.request.urlopen(f"{stack.base_url}/docs/reference/gateway.html", timeout=30) as page:
        assert page.status == 200
        assert "Gateway reference" in page.read().decode()


def test_blocks_are_found_in_order(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n```sh\na=1\n```\n```text\nnot run\n```\n```sh\necho $a\n```\n")
    assert blocks(page, "sh") == ["a=1\n", "echo $a\n"]

