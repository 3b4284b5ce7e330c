"""The examples of the documentation, run as written: the shell blocks of a page
are taken from its Markdown, so a page that stops working fails the build."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from conftest import REPO

PAGES = REPO / "docs" / "src" / "examples"
#: A fenced block of shell: ```sh … ```.
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def shell_blocks(page: Path) -> list[str]:
    blocks = SHELL_BLOCK.findall(page.read_text())
    assert blocks, f"{page} has no ```sh blocks"
    return blocks


def run_pages(pages: list[Path], env: dict[str, str], cwd: Path) -> str:
    """Every block of the pages in one bash, in order, stopping at the first failing
    command; a page may use what an earlier one set."""
    script = "set -euo pipefail\n" + "\n".join(block for page in pages for block in shell_blocks(page))
    done = subprocess.run(
        ["bash", "-c", script], env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, timeout=120
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


def test_shell_blocks_are_found_in_order() -> None:
    page = "text\n```sh\na=1\n```\n```text\nnot run\n```\n```sh\necho $a\n```\n"
    assert SHELL_BLOCK.findall(page) == ["a=1\n", "echo $a\n"]
