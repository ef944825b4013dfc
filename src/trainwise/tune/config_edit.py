"""Write one value into a user's TOML config, keeping everything else (comments, order, layout) as it was.

A careful line edit, not a round trip through a TOML writer (which would drop the user's comments): the
`key = value` line inside its `[section]` is replaced, or added under the section header, or the section is
appended. The edited text is parsed again and must equal the old config with only that key changed; otherwise
nothing is written. The file is replaced atomically.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from trainwise.atomic import atomic_write_text
from trainwise.config import set_key
from trainwise.errors import ConfigError

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")


def set_config_value(path: str | Path, dotted: str, value: Any) -> None:
    """Set `section.key` (or a top-level `key`) to `value` in the TOML file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        before = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the config to update it ({exc})", source=str(path)) from None
    section, _, key = dotted.rpartition(".")
    literal = tomli_w.dumps({"v": value}).strip().removeprefix("v = ")
    edited = _edit(text.splitlines(keepends=True), section, key, literal)
    expected = tomllib.loads(tomli_w.dumps(before))
    set_key(expected, dotted, value)
    try:
        after = tomllib.loads(edited)
    except tomllib.TOMLDecodeError:
        after = None
    if after != expected:
        raise ConfigError(
            f"cannot update '{dotted}' by a line edit (is it written as a dotted key or an inline table?); "
            f"set it by hand: {dotted} = {literal}",
            source=str(path),
        )
    atomic_write_text(path, edited)


def _edit(lines: list[str], section: str, key: str, literal: str) -> str:
    assignment = re.compile(rf"^(\s*){re.escape(key)}\s*=\s*[^#\n]*?(\s*#.*)?(\r?\n)?$")
    current = ""
    header_at: int | None = 0 if not section else None
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        if match:
            current = match.group(1).replace(" ", "")
            if current == section:
                header_at = i + 1
            continue
        if current == section:
            found = assignment.match(line)
            if found:
                indent, comment, newline = found.group(1), found.group(2) or "", found.group(3) or "\n"
                lines[i] = f"{indent}{key} = {literal}{comment}{newline}"
                return "".join(lines)
    if header_at is not None:
        lines.insert(header_at, f"{key} = {literal}\n")
        return "".join(lines)
    tail = "" if not lines or lines[-1].endswith("\n") else "\n"
    return "".join(lines) + f"{tail}\n[{section}]\n{key} = {literal}\n"
