"""The recommend task: splits, id mapping, counted cold starts, baselines in the same run, and learning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import trainwise
from trainwise.config import build_recipe
from trainwise.data.catalog import get_builtin
from trainwise.errors import ConfigError
from trainwise.tasks import get_task


def low_rank_ratings(path: Path, users: int = 60, items: int = 40, seed: int = 0, keep: float = 0.6) -> Path:
    """Ratings 1..5 from two hidden tastes (a rank-2 matrix plus noise), a random `keep` share observed."""
    rng = np.random.default_rng(seed)
    taste_u, taste_i = rng.normal(size=(users, 2)), rng.normal(size=(items, 2))
    scores = 3 + 1.2 * taste_u @ taste_i.T + 0.2 * rng.normal(size=(users, items))
    lines = ["user,item,rating,time"]
    for u in range(users):
        for i in range(items):
            if rng.random() < keep:
                lines.append(f"u{u},m{i},{int(np.clip(np.rint(scores[u, i]), 1, 5))},{rng.integers(1000)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def two_camps(path: Path, users: int = 40, items: int = 30, per_user: int = 8, seed: int = 0) -> Path:
    """Implicit interactions: even users only pick even items, odd users odd ones, at random times."""
    rng = np.random.default_rng(seed)
    lines = ["user,item,time"]
    for u in range(users):
        camp = np.arange(u % 2, items, 2)
        for t, i in enumerate(rng.choice(camp, per_user, replace=False)):
            lines.append(f"u{u},m{i},{t}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def recipe(path: Path, **data: Any) -> dict[str, Any]:
    return {
        "task": "recommend",
        "epochs": 30,
        "batch_size": 64,
        "loss": "mse",
        "metrics": ["rmse", "mae"],
        "data": {"path": str(path), "timestamp": "time", "validation_split": 0.0, **data},
        "model": {"name": "mf", "factors": 4},
        "optimizer": {"learning_rate": 0.02},
        "regularization": {"l2": 1e-4},
    }


def test_explicit_mf_beats_its_bias_baseline_and_reports_it(tmp_path: Path) -> None:
    path = low_rank_ratings(tmp_path / "ratings.csv")
    result = trainwise.fit(recipe(path), out=tmp_path / "run", progress="off")
    assert result.test is not None
    baseline = result.report["baseline"]
    assert baseline["name"].startswith("global mean + user/item biases")
    assert result.test["rmse"] < 0.85 * baseline["test"]["rmse"]
    summary = (tmp_path / "run" / "summary.json").read_text(encoding="utf-8")
    assert '"baseline"' in summary and '"cold_start"' in summary


def test_explicit_split_maps_ids_from_train_and_counts_unknown_ones(tmp_path: Path) -> None:
    path = low_rank_ratings(tmp_path / "ratings.csv", users=80, items=60, keep=0.05)  # sparse: some ids unseen
    data = get_task("recommend").load(build_recipe(recipe(path, validation_split=0.1)), "real")
    x_train, x_test = data.train[0], data.test[0]
    assert x_train.min() == 0 and x_train[:, 0].max() == data.info["users"] - 1
    assert x_train[:, 1].max() == data.info["items"] - 1
    counts = data.report["interactions"]
    assert counts["train"] + counts["val"] + counts["test"] == counts["kept"]
    assert counts["test"] == round(0.2 * counts["kept"])
    cold = data.report["cold_start"]["test"]
    assert cold["unknown_users"] == int((x_test[:, 0] < 0).sum()) > 0
    assert cold["unknown_items"] == int((x_test[:, 1] < 0).sum()) > 0


def test_the_split_depends_on_the_split_seed_only(tmp_path: Path) -> None:
    path = low_rank_ratings(tmp_path / "ratings.csv")
    task = get_task("recommend")
    first = task.load(build_recipe({**recipe(path), "seed": 1}), "real")
    second = task.load(build_recipe({**recipe(path), "seed": 2}), "real")
    other = task.load(build_recipe(recipe(path, split_seed=5)), "real")
    assert torch.equal(first.test[1], second.test[1])
    assert not torch.equal(first.test[1], other.test[1])


def test_folds_partition_the_interactions(tmp_path: Path) -> None:
    path = low_rank_ratings(tmp_path / "ratings.csv")
    task = get_task("recommend")
    tests = [task.load(build_recipe(recipe(path, folds=3, fold=k)), "real") for k in range(3)]
    sizes = [len(d.test[1]) for d in tests]
    assert sum(sizes) == tests[0].report["interactions"]["kept"]
    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ConfigError, match="fold 3 does not exist"):
        task.load(build_recipe(recipe(path, folds=3, fold=3)), "real")


def test_leave_last_out_holds_out_each_users_latest_items_and_masks_the_seen_ones(tmp_path: Path) -> None:
    path = tmp_path / "clicks.csv"
    path.write_text("user,item,time\na,x,3\na,y,1\na,z,2\nb,x,1\nb,y,2\nc,z,5\n", encoding="utf-8")
    config = {**recipe(path, validation_split=0.1), "loss": "bpr", "metrics": ["hr@10"]}
    data = get_task("recommend").load(build_recipe(config), "ranking")
    items = {name: i for i, name in enumerate(["x", "y", "z"])}  # the training split holds x, y, z
    assert data.info["items"] == 3
    # a: y(1) z(2) x(3): test x, val z, train y. b: two rows < 3: kept whole in train. c: one row: train.
    assert data.report["interactions"]["users_kept_whole_in_train"] == 2
    (test_users, test_marks), (val_users, val_marks) = data.test, data.val
    assert test_users.tolist() == val_users.tolist() == [[0]]
    assert test_marks.tolist() == [[1, -1, -1, 0]]  # x held out; y (train) and z (validation) masked
    assert val_marks[0, items["z"]] == 1 and val_marks[0, items["y"]] == -1 and val_marks[0, items["x"]] == 0


def test_implicit_bpr_and_neumf_beat_popularity_in_the_same_run(tmp_path: Path) -> None:
    path = two_camps(tmp_path / "clicks.csv")
    for name in ("mf", "neumf"):
        config = {
            **recipe(path, validation_split=0.1),
            "loss": "bpr",
            "metrics": ["hr@5", "ndcg@5"],
            "epochs": 25,
            "model": {"name": name, "factors": 8, "hidden": [16]},
        }
        result = trainwise.fit(config, out=tmp_path / name, progress="off")
        baseline = result.report["baseline"]
        assert baseline["name"] == "most popular unseen training items"
        assert result.test is not None
        assert result.test["ndcg@5"] > 1.2 * baseline["test"]["ndcg@5"], name
        assert "val_ndcg@5" in result.history[-1] and "train_ndcg@5" not in result.history[-1]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"loss": "bpr", "metrics": ["hr@10"], "data": {"feedback": "explicit"}}, "explicit ratings train with"),
        ({"data": {"feedback": "implicit"}}, "implicit feedback trains with loss 'bpr', not 'mse'"),
        ({"metrics": ["hr@10"]}, "metric 'hr@10' does not fit loss 'mse'"),
        ({"model": {"name": "mlp"}}, "model 'mlp' does not fit task 'recommend'"),
        ({"data": {"name": "digits"}}, "'digits' is not a set of interactions"),
        ({"data": {"test_path": "t.csv"}}, "splits its own test part"),
    ],
)
def test_mismatched_settings_are_config_errors(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    config = recipe(low_rank_ratings(tmp_path / "r.csv", users=5, items=5))
    for key, value in changes.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    if "name" in config["data"]:
        del config["data"]["path"]
    with pytest.raises(ConfigError, match=message):
        trainwise.fit(config, out=tmp_path / "run", progress="off")
    assert not (tmp_path / "run").exists()


def test_movielens_100k_from_the_recbole_wheel() -> None:
    builtin = get_builtin("movielens-100k")
    if not builtin.installed():
        pytest.skip(f"movielens-100k is not installed ({builtin.install}); scripts/setup.sh installs it")
    task = get_task("recommend")
    base = {"task": "recommend", "loss": "mse", "data": {"name": "movielens-100k", "validation_split": 0.0}}
    explicit = task.load(build_recipe(base), "real")
    counts = explicit.report["interactions"]
    assert (counts["rows"], counts["duplicates"], counts["test"]) == (100_000, 0, 20_000)
    assert explicit.info["low"] == 1.0 and explicit.info["high"] == 5.0
    assert 0.9 < explicit.report["baseline"]["test"]["rmse"] < 1.0  # published bias baselines: ~0.94
    implicit = task.load(build_recipe({**base, "loss": "bpr", "metrics": ["ndcg@10"]}), "ranking")
    assert implicit.test[0].shape == (943, 1)  # every user has >= 20 ratings: one test item each
    assert implicit.test[1].shape[1] == implicit.info["items"] + 1
    assert int((implicit.test[1][:, :-1] == 1).sum()) + int(implicit.test[1][:, -1].sum()) == 943


def test_movielens_dslabs_from_the_r_package() -> None:
    builtin = get_builtin("movielens-dslabs")
    if not builtin.installed():
        pytest.skip(f"movielens-dslabs is not installed ({builtin.install}); scripts/setup.sh installs it")
    base = {"task": "recommend", "loss": "mse", "data": {"name": "movielens-dslabs", "validation_split": 0.0}}
    data = get_task("recommend").load(build_recipe(base), "real")
    counts = data.report["interactions"]
    assert (counts["rows"], counts["duplicates"], counts["train_users"]) == (100_004, 0, 671)
    assert (data.info["low"], data.info["high"]) == (0.5, 5.0)
    assert float(data.test[1].min()) == 0.5  # half stars survive
    assert data.report["cold_start"]["test"]["unknown_items"] > 0  # many movies have one rating


def test_an_implicit_run_resumed_from_its_checkpoint_ends_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    """Negatives come from the run's seeded torch RNG, which the checkpoint saves: the resumed run draws the same."""
    path = two_camps(tmp_path / "clicks.csv")
    config = {**recipe(path, validation_split=0.1), "loss": "bpr", "metrics": ["ndcg@5"], "epochs": 2}
    whole = trainwise.fit(config, out=tmp_path / "whole", progress="off")
    trainwise.fit({**config, "epochs": 1}, out=tmp_path / "part", progress="off")
    resumed = trainwise.fit(config, out=tmp_path / "part", resume=True, progress="off")
    assert [e["train_loss"] for e in resumed.history] == [e["train_loss"] for e in whole.history]
    assert resumed.test == whole.test
