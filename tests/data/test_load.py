"""load_arrays: from a DataConfig to scaled float32 splits with labels checked for the task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainwise.config import DataConfig
from trainwise.data import ArraySplits, load_arrays
from trainwise.data.catalog import BUILTINS
from trainwise.errors import DataError


def _csv(path: Path, rows: list[str], header: str = "a,b,label") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _classes_csv(path: Path, n: int = 40) -> Path:
    return _csv(path, [f"{i},{2 * i},{i % 4}" for i in range(n)])


def test_csv_classification_with_validation_split(tmp_path: Path) -> None:
    path = _classes_csv(tmp_path / "train.csv")
    splits = load_arrays(DataConfig(path=str(path), validation_split=0.25, split_seed=1), classification=True)
    assert isinstance(splits, ArraySplits)
    assert splits.name == "train" and splits.source == str(path)
    assert splits.train_x.shape == (30, 2) and splits.train_x.dtype == np.float32
    assert splits.val_x is not None and splits.val_y is not None
    assert splits.val_x.shape == (10, 2)
    assert splits.train_y.dtype == np.int64
    assert sorted(np.bincount(splits.val_y).tolist()) == [2, 2, 3, 3]  # stratified: 2.5 of each class
    assert splits.num_classes == 4 and splits.classes is None
    assert splits.input_shape == (2,)
    assert splits.test_x is None and splits.test_y is None
    # every row lands in exactly one split, features still paired with their labels
    rows = np.concatenate([splits.train_x, splits.val_x])
    labels = np.concatenate([splits.train_y, splits.val_y])
    np.testing.assert_array_equal(np.sort(rows[:, 0]), np.arange(40))
    np.testing.assert_array_equal(labels, rows[:, 0].astype(np.int64) % 4)


def test_validation_split_is_deterministic_for_the_split_seed(tmp_path: Path) -> None:
    path = str(_classes_csv(tmp_path / "train.csv"))
    first = load_arrays(DataConfig(path=path, split_seed=3), classification=True)
    again = load_arrays(DataConfig(path=path, split_seed=3), classification=True)
    other = load_arrays(DataConfig(path=path, split_seed=4), classification=True)
    np.testing.assert_array_equal(first.val_x, again.val_x)
    assert not np.array_equal(first.val_x, other.val_x)


def test_no_validation_split_gives_none(tmp_path: Path) -> None:
    path = str(_classes_csv(tmp_path / "train.csv"))
    splits = load_arrays(DataConfig(path=path, validation_split=0.0), classification=True)
    assert splits.val_x is None and splits.val_y is None and len(splits.train_x) == 40


def test_scale_divides_features(tmp_path: Path) -> None:
    path = str(_classes_csv(tmp_path / "train.csv"))
    splits = load_arrays(DataConfig(path=path, scale=4.0, validation_split=0.0), classification=True)
    np.testing.assert_allclose(np.sort(splits.train_x[:, 1]), np.arange(40) / 2)


def test_tsv_string_labels_and_test_file_with_other_classes(tmp_path: Path) -> None:
    train = _csv(tmp_path / "train.tsv", ["1\t1\tcat", "2\t2\tdog", "3\t3\temu", "4\t4\tdog"], header="a\tb\tkind")
    test = _csv(tmp_path / "test.tsv", ["5\t5\temu", "6\t6\tdog"], header="a\tb\tkind")  # no 'cat': sorts differently
    cfg = DataConfig(path=str(train), test_path=str(test), label="kind", validation_split=0.0)
    splits = load_arrays(cfg, classification=True)
    assert splits.classes == ["cat", "dog", "emu"] and splits.num_classes == 3
    assert splits.test_y is not None
    np.testing.assert_array_equal(splits.test_y, [2, 1])  # emu, dog in the training classes' numbering


def test_test_file_with_an_unseen_class(tmp_path: Path) -> None:
    train = _csv(tmp_path / "train.csv", ["1,1,cat", "2,2,dog"])
    test = _csv(tmp_path / "test.csv", ["5,5,yak"])
    cfg = DataConfig(path=str(train), test_path=str(test), validation_split=0.0)
    with pytest.raises(
        DataError, match="test label 'yak' is not a class of the training data; expected one of cat, dog"
    ) as err:
        load_arrays(cfg, classification=True)
    assert err.value.source == str(test)


def test_num_classes_comes_from_the_training_labels(tmp_path: Path) -> None:
    train = _classes_csv(tmp_path / "train.csv")
    test = _csv(tmp_path / "test.csv", ["1,1,3", "2,2,0"])
    splits = load_arrays(DataConfig(path=str(train), test_path=str(test)), classification=True)
    assert splits.num_classes == 4


def test_numeric_test_label_unseen_in_training_names_the_row(tmp_path: Path) -> None:
    train = _classes_csv(tmp_path / "train.csv")  # labels 0..3
    test = _csv(tmp_path / "test.csv", ["1,1,3", "2,2,0", "3,3,6"])
    with pytest.raises(DataError, match=r"row 4: label 6 never occurs in the training data; expected .* 0\.\.3") as err:
        load_arrays(DataConfig(path=str(train), test_path=str(test)), classification=True)
    assert err.value.source == str(test)


def test_regression_targets_are_float32(tmp_path: Path) -> None:
    path = _csv(tmp_path / "houses.csv", ["1,2,100", "2,3,150.5", "3,1,80"], header="rooms,age,price")
    splits = load_arrays(DataConfig(path=str(path), label="price", validation_split=0.0), classification=False)
    assert splits.train_y.dtype == np.float32 and splits.num_classes is None
    np.testing.assert_allclose(splits.train_y, [100, 150.5, 80])


def test_regression_on_class_names_is_an_error(tmp_path: Path) -> None:
    path = _csv(tmp_path / "t.csv", ["1,2,cat", "2,3,dog"])
    with pytest.raises(DataError, match=r"labels are class names .*expected numeric targets for regression"):
        load_arrays(DataConfig(path=str(path), validation_split=0.0), classification=False)


@pytest.mark.parametrize(("label", "shown"), [("2.5", "2.5"), ("-1", "-1")])
def test_classification_labels_must_be_class_indices(tmp_path: Path, label: str, shown: str) -> None:
    path = _csv(tmp_path / "t.csv", ["1,2,0", "2,3,1", "", f"3,4,{label}", "4,5,-2"])
    with pytest.raises(DataError, match=rf"row 5: label {shown} is not a class index; expected integers >= 0") as err:
        load_arrays(DataConfig(path=str(path)), classification=True)
    assert err.value.source == str(path)


def test_npz_classification_labels_name_the_sample(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((4, 3, 2)), y=np.array([0.0, 1.0, 1.5, 0.0]))
    with pytest.raises(DataError, match=r"sample 2: label 1.5 is not a class index") as err:
        load_arrays(DataConfig(path=str(path)), classification=True)
    assert err.value.source == str(path)


def test_npz_keeps_per_sample_shape(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.full((10, 3, 2), 8.0), y=np.arange(10) % 2)
    splits = load_arrays(DataConfig(path=str(path), scale=2.0, validation_split=0.2), classification=True)
    assert splits.input_shape == (3, 2) and splits.train_x.shape == (8, 3, 2)
    assert np.all(splits.train_x == 4.0) and splits.num_classes == 2


def _idx_pair(folder: Path, write_idx, prefix: str, n: int, gz: bool = True) -> tuple[Path, Path]:
    images = np.arange(n * 4 * 4, dtype=np.uint8).reshape(n, 4, 4)
    suffix = ".gz" if gz else ""
    return (
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz=gz),
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 3).astype(np.uint8), gz=gz),
    )


def test_idx_images_get_a_channel_axis_and_test_labels_beside(tmp_path: Path, write_idx) -> None:
    images, labels = _idx_pair(tmp_path, write_idx, "train", 12)
    test_images, _ = _idx_pair(tmp_path, write_idx, "t10k", 5, gz=False)
    cfg = DataConfig(path=str(images), labels_path=str(labels), test_path=str(test_images), scale=255.0)
    splits = load_arrays(cfg, classification=True)
    assert splits.input_shape == (1, 4, 4)
    assert splits.val_x is not None
    assert splits.train_x.shape == (11, 1, 4, 4) and splits.val_x.shape == (1, 1, 4, 4)
    assert splits.test_x is not None and splits.test_x.shape == (5, 1, 4, 4)
    assert splits.test_y is not None
    np.testing.assert_array_equal(splits.test_y, [0, 1, 2, 0, 1])
    assert splits.train_x.max() <= 1.0 and splits.num_classes == 3


def test_idx_without_labels_path(tmp_path: Path, write_idx) -> None:
    images, _ = _idx_pair(tmp_path, write_idx, "train", 3)
    with pytest.raises(DataError, match=r"IDX images need their labels: set data\.labels_path") as err:
        load_arrays(DataConfig(path=str(images)), classification=True)
    assert err.value.source == str(images)


def test_idx_length_mismatch_names_both_files(tmp_path: Path, write_idx) -> None:
    images, _ = _idx_pair(tmp_path, write_idx, "train", 6)
    _, labels = _idx_pair(tmp_path, write_idx, "other", 5)
    with pytest.raises(DataError) as err:
        load_arrays(DataConfig(path=str(images), labels_path=str(labels)), classification=True)
    assert str(images) in str(err.value) and str(labels) in str(err.value)
    assert "6 images but labels of shape (5,)" in str(err.value)


def test_idx_test_path_without_images_in_its_name(tmp_path: Path, write_idx) -> None:
    images, labels = _idx_pair(tmp_path, write_idx, "train", 6)
    odd = write_idx(tmp_path / "holdout.idx", np.zeros((2, 4, 4), dtype=np.uint8))
    cfg = DataConfig(path=str(images), labels_path=str(labels), test_path=str(odd))
    with pytest.raises(DataError, match="cannot tell the labels file of an IDX test_path"):
        load_arrays(cfg, classification=True)


def test_test_file_with_other_feature_shape(tmp_path: Path) -> None:
    train = _classes_csv(tmp_path / "train.csv")
    test = _csv(tmp_path / "test.csv", ["1,2,3,0"], header="a,b,c,label")
    with pytest.raises(DataError, match=r"test samples have shape \(3,\) but training samples \(2,\)"):
        load_arrays(DataConfig(path=str(train), test_path=str(test)), classification=True)


def test_no_data_configured() -> None:
    with pytest.raises(DataError) as err:
        load_arrays(DataConfig(), classification=True)
    assert str(err.value) == "no data: set data.name (a built-in, see `trainwise data ls`) or data.path"


def test_unknown_builtin_name() -> None:
    with pytest.raises(DataError, match="did you mean 'digits'"):
        load_arrays(DataConfig(name="digit"), classification=True)


def test_builtin_digits_scaled_by_its_own_scale() -> None:
    if not BUILTINS["digits"].installed():
        pytest.skip("scikit-learn is not installed")
    splits = load_arrays(DataConfig(name="digits", validation_split=0.1), classification=True)
    assert splits.val_x is not None and splits.test_x is not None
    assert splits.train_x.shape == (1293, 1, 8, 8) and splits.val_x.shape == (144, 1, 8, 8)
    assert splits.test_x.shape == (360, 1, 8, 8)
    assert splits.train_x.dtype == np.float32 and float(splits.train_x.max()) == 1.0
    assert splits.num_classes == 10 and splits.classes == [str(d) for d in range(10)]
    assert splits.input_shape == (1, 8, 8)
    custom = load_arrays(DataConfig(name="digits", scale=2.0), classification=True)
    assert float(custom.train_x.max()) == 8.0


def test_builtin_fashion_mnist_splits() -> None:
    if not BUILTINS["fashion-mnist"].installed():
        pytest.skip("dataset-fashion-mnist is not installed")
    splits = load_arrays(DataConfig(name="fashion-mnist", validation_split=0.1), classification=True)
    assert splits.val_y is not None and splits.test_x is not None
    assert splits.train_x.shape == (54000, 1, 28, 28) and len(splits.val_y) == 6000
    np.testing.assert_array_equal(np.bincount(splits.val_y), [600] * 10)
    assert splits.test_x.shape == (10000, 1, 28, 28) and splits.num_classes == 10
    assert float(splits.train_x.min()) >= 0.0 and float(splits.train_x.max()) == 1.0


def test_regression_on_a_builtin_uses_its_numeric_labels() -> None:
    if not BUILTINS["digits"].installed():
        pytest.skip("scikit-learn is not installed")
    splits = load_arrays(DataConfig(name="digits", validation_split=0.0), classification=False)
    assert splits.train_y.dtype == np.float32 and splits.num_classes is None
    assert float(splits.train_y.max()) == 9.0


def test_validation_split_that_leaves_nothing_names_file_and_key(tmp_path: Path) -> None:
    path = _csv(tmp_path / "tiny.csv", ["1,2,0", "2,3,1"])
    with pytest.raises(DataError, match="holds out all 2 samples") as err:
        load_arrays(DataConfig(path=str(path), validation_split=0.8), classification=True)
    assert err.value.source == str(path) and err.value.key == "data.validation_split"
