"""CloudCord's OpenAPI document, made self-contained for the fuzzer.

The committed document refers to Discord's own OpenAPI document for the objects it
answers with (`<DISCORD_SPEC>#/components/schemas/GuildResponse`). Here each such
component is replaced by Discord's schema, with every component that schema refers
to, from the copy under `../shared/reference/` — so responses are validated against
the shapes Discord promises, not against a restatement of them.

Path parameters also get examples naming things that exist (a guild, its channel, a
message, ...), so the fuzzer's examples reach real objects and their success
responses are validated too, not only the 404s of random ids.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "openapi" / "cloudcord.json"
DISCORD = REPO.parent / "shared" / "reference" / "discord-api-spec" / "openapi.json"
DISCORD_SPEC = "https://raw.githubusercontent.com/discord/discord-api-spec/main/specs/openapi.json"
PREFIX = f"{DISCORD_SPEC}#/components/schemas/"


def _references(value: object) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        reference = value.get("$ref")
        if isinstance(reference, str):
            found.add(reference)
        for child in value.values():
            found |= _references(child)
    elif isinstance(value, list):
        for child in value:
            found |= _references(child)
    return found


def _localize(value: object) -> object:
    """Discord's document refers to its own components locally; ours by URL."""
    if isinstance(value, dict):
        return {
            key: (child.removeprefix(DISCORD_SPEC) if key == "$ref" and isinstance(child, str) else _localize(child))
            for key, child in value.items()
        }
    if isinstance(value, list):
        return [_localize(child) for child in value]
    return value


def bundle(examples: dict[str, str]) -> dict:
    """The committed document with Discord's components inlined and path examples."""
    document = json.loads(COMMITTED.read_text())
    discord = json.loads(DISCORD.read_text())["components"]["schemas"]
    ours = document["components"]["schemas"]
    # Our components that stand for Discord's: `{"$ref": "<spec>#/components/schemas/X"}`.
    wanted = [
        name
        for name, schema in ours.items()
        if set(schema) == {"$ref"} and schema["$ref"] == PREFIX + name
    ]
    for name in wanted:
        del ours[name]
    document = _localize(document)
    ours = document["components"]["schemas"]
    own = set(ours)
    local = "#/components/schemas/"
    pending = [r.removeprefix(local) for r in _references(document) if r.startswith(local)]
    imported: set[str] = set()
    while pending:
        name = pending.pop()
        if name in imported or (name in own and name not in discord):
            continue
        if name in own:
            raise ValueError(f"CloudCord's component {name} has the name of one of Discord's")
        if name not in discord:
            raise KeyError(f"Discord's OpenAPI document has no component {name}")
        ours[name] = copy.deepcopy(discord[name])
        imported.add(name)
        pending.extend(r.removeprefix(local) for r in _references(ours[name]))
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in examples:
                    parameter["example"] = examples[parameter["name"]]
    return document
