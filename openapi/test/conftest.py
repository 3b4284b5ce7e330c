"""The stack the contract test runs against (see stack.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stack import REPO, Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    binary = Path(os.environ.get("CLOUDCORD_BIN", REPO / "target" / "debug" / "cloudcord"))
    running = Stack(binary=binary, state_dir=REPO / "openapi" / "test" / "artifacts" / "stack")
    try:
        running.start()
        yield running
    finally:
        running.stop()
