"""The stack the documentation's examples run against: the one the API contract
tests start (`openapi/test/stack.py`), beside any `make up`, on a free port."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "openapi" / "test"))

from stack import Stack  # noqa: E402 - found through the path above


@pytest.fixture(scope="session")
def stack():
    binary = Path(os.environ.get("CLOUDCORD_BIN", REPO / "target" / "debug" / "cloudcord"))
    running = Stack(binary=binary, state_dir=REPO / "docs" / "test" / "artifacts" / "stack")
    try:
        running.start()
        yield running
    finally:
        running.stop()
