"""--apply edits one key of the user's TOML and keeps the rest of the file, comments included."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from trainwise.errors import ConfigError
from trainwise.tune.config_edit import set_config_value

CONFIG = """# my run
task = "image"  # images
epochs = 3

[optimizer]
name = "adam"
learning_rate = 0.001  # tuned by hand

[model]
hidden = [8]
"""


def test_replaces_the_value_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    set_config_value(path, "optimizer.learning_rate", 0.0042)
    text = path.read_text()
    assert text == CONFIG.replace("learning_rate = 0.001", "learning_rate = 0.0042")
    assert tomllib.loads(text)["optimizer"]["learning_rate"] == 0.0042


def test_adds_the_key_or_the_section(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.replace("learning_rate = 0.001  # tuned by hand\n", ""))
    set_config_value(path, "optimizer.learning_rate", 0.01)
    assert tomllib.loads(path.read_text())["optimizer"] == {"name": "adam", "learning_rate": 0.01}
    bare = tmp_path / "bare.toml"
    bare.write_text('task = "image"\n')
    set_config_value(bare, "optimizer.learning_rate", 0.5)
    set_config_value(bare, "batch_size", 64)
    assert tomllib.loads(bare.read_text()) == {"task": "image", "batch_size": 64, "optimizer": {"learning_rate": 0.5}}


def test_an_inline_table_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    text = 'task = "image"\noptimizer = { name = "sgd", learning_rate = 0.1 }\n'
    path.write_text(text)
    with pytest.raises(ConfigError, match="by hand"):
        set_config_value(path, "optimizer.learning_rate", 0.01)
    assert path.read_text() == text
