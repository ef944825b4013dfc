"""The public Python API: what `trainwise` exports, and `fit` called every documented way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import trainwise

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]

# Written out so that any change to the public API is a deliberate one.
PUBLIC_API = [
    "Callback",
    "CompareResult",
    "ConfigError",
    "DataError",
    "FitResult",
    "LRFindResult",
    "Recipe",
    "RunError",
    "TrainwiseError",
    "TuneResult",
    "__version__",
    "compare",
    "diagnose",
    "fit",
    "load_recipe",
    "load_task",
    "lr_find",
    "report",
    "tune",
]


def test_all_is_exactly_the_public_api() -> None:
    assert sorted(trainwise.__all__) == PUBLIC_API
    for name in PUBLIC_API:
        assert getattr(trainwise, name) is not None
    assert issubclass(trainwise.RunError, trainwise.TrainwiseError)
    assert issubclass(trainwise.ConfigError, trainwise.TrainwiseError)
    assert issubclass(trainwise.DataError, trainwise.TrainwiseError)
    with pytest.raises(AttributeError):
        _ = trainwise.no_such_name  # type: ignore[attr-defined]


def test_import_is_lazy() -> None:
    """`import trainwise` (and the light names) must not import torch: the CLI's data ls and --version start fast."""
    code = (
        "import sys, trainwise\n"
        "trainwise.Recipe, trainwise.load_recipe, trainwise.TrainwiseError, trainwise.__version__\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "trainwise.fit\n"
        "assert 'torch' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def tabular(**settings: object) -> dict[str, object]:
    return {"task": "tabular", "model": {"hidden": [8]}, "progress": "off", **settings}


def test_fit_with_a_recipe_object(tmp_path: Path, blobs: Splits) -> None:
    recipe = trainwise.Recipe.model_validate(
        {"task": "tabular", "epochs": 2, "model": {"hidden": [8]}, "optimizer": {"name": "sgd", "learning_rate": 0.05}}
    )
    result = trainwise.fit(recipe, train=blobs["train"], val=blobs["val"], out=tmp_path / "run", progress="off")
    assert isinstance(result, trainwise.FitResult)
    assert [e["epoch"] for e in result.history] == [1, 2]
    assert result.recipe.optimizer.name == "sgd"
    assert {e["lr"] for e in result.history} == {0.05}
    assert result.final == result.history[-1]


def test_keyword_settings_override_a_recipe_without_changing_it(tmp_path: Path, blobs: Splits) -> None:
    recipe = trainwise.Recipe.model_validate({"task": "tabular", "epochs": 3, "model": {"hidden": [8]}})
    result = trainwise.fit(recipe, train=blobs["train"], out=tmp_path / "run", progress="off", epochs=1)
    assert len(result.history) == 1
    assert recipe.epochs == 3


def test_fit_with_a_dict(tmp_path: Path, blobs: Splits) -> None:
    recipe = {"task": "tabular", "epochs": 2, "batch_size": 16, "model": {"hidden": [8]}}
    result = trainwise.fit(recipe, train=blobs["train"], test=blobs["test"], out=tmp_path / "run", progress="off")
    assert len(result.history) == 2
    assert result.history[-1]["step"] == 2 * result.history[0]["step"]
    assert result.test is not None and set(result.test) == {"loss", "accuracy"}
    assert "val_loss" in result.final  # without val=, validation is carved from train


def test_fit_with_plain_keyword_arguments(tmp_path: Path, blobs: Splits) -> None:
    result = trainwise.fit(
        **tabular(epochs=2, learning_rate=0.02, optimizer="sgd"),
        train=blobs["train"],
        val=blobs["val"],
        out=tmp_path / "run",
    )
    assert (result.recipe.optimizer.name, result.recipe.optimizer.learning_rate) == ("sgd", 0.02)
    assert {e["lr"] for e in result.history} == {0.02}
    assert len(result.history) == 2


def test_fit_with_a_user_module_and_tensors(tmp_path: Path, blobs: Splits) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = trainwise.fit(
        model=model,
        train=blobs["train"],
        val=blobs["val"],
        test=blobs["test"],
        epochs=3,
        learning_rate=0.01,
        out=tmp_path / "run",
        progress="off",
    )
    assert result.model is model
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.test is not None and result.test["accuracy"] > 0.9  # blobs are separable


class Pairs(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A map-style Dataset that is not a TensorDataset."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def test_fit_with_a_torch_dataset_and_a_model(tmp_path: Path, blobs: Splits) -> None:
    model = nn.Sequential(nn.Linear(8, 3))
    result = trainwise.fit(
        model=model, train=Pairs(*blobs["train"]), epochs=2, batch_size=32, out=tmp_path / "run", progress="off"
    )
    assert [e["epoch"] for e in result.history] == [1, 2]
    samples = round(len(blobs["train"][0]) * 0.9)  # the default validation_split of 0.1 is carved from train
    assert result.history[0]["step"] == -(-samples // 32)
    assert "val_loss" in result.final


def test_a_dataset_without_a_model_asks_for_one(tmp_path: Path, blobs: Splits) -> None:
    with pytest.raises(trainwise.TrainwiseError, match="model="):
        trainwise.fit(train=Pairs(*blobs["train"]), epochs=1, out=tmp_path / "run", progress="off")
    assert not (tmp_path / "run").exists()


def test_summary_json_is_the_result(tmp_path: Path, blobs: Splits) -> None:
    result = trainwise.fit(
        **tabular(epochs=2), train=blobs["train"], val=blobs["val"], test=blobs["test"], out=tmp_path / "run"
    )
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved == result.to_dict()
    assert saved["run_dir"] == str(tmp_path / "run")
    assert saved["epochs_completed"] == 2
    assert saved["config"] == result.recipe.to_dict()
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == saved["history"]


def test_fit_refuses_to_overwrite_a_run(tmp_path: Path, blobs: Splits) -> None:
    trainwise.fit(**tabular(epochs=1), train=blobs["train"], out=tmp_path / "run")
    before = (tmp_path / "run" / "summary.json").read_text()
    with pytest.raises(trainwise.RunError, match="--resume"):
        trainwise.fit(**tabular(epochs=1), train=blobs["train"], out=tmp_path / "run")
    assert (tmp_path / "run" / "summary.json").read_text() == before


def test_diagnose_and_report_stay_functions_after_their_subpackages_are_imported() -> None:
    """`trainwise.report` is a function and `trainwise/report/` a package: importing the package's modules
    must not put the package in the function's place."""
    import trainwise.diagnose.curves
    import trainwise.report.plots

    assert callable(trainwise.diagnose) and trainwise.diagnose.__name__ == "diagnose"
    assert callable(trainwise.report) and trainwise.report.__name__ == "report"


def test_tune_is_the_function_even_after_the_tune_package_is_imported() -> None:
    """`trainwise.tune` names both a package and the API function: it stays callable, imports or not."""
    code = (
        "import sys, trainwise\n"
        "assert 'torch' not in sys.modules and 'optuna' not in sys.modules\n"
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "import trainwise.tune.space\n"
        "import trainwise.tune.study as study\n"
        "assert callable(trainwise.tune) and trainwise.tune.space.SETTINGS\n"
        "assert study.tune.__name__ == 'tune'\n"
        "assert trainwise.TuneResult.__name__ == 'TuneResult'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
