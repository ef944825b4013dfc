"""Recommendation quality: each model's test score next to its classic baseline, scored in the same run.

    .venv/bin/python benchmarks/recommend_quality.py            # every setting whose data is installed
    .venv/bin/python benchmarks/recommend_quality.py --folds    # also 5-fold CV of the explicit example

Bars (issue 6): explicit RMSE <= 0.91 on movielens-100k's random 80/20 split; implicit NDCG@10 >= 1.2x the
most-popular baseline. Each line prints the equivalent `trainwise fit` command.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import trainwise
from trainwise.crossval import cross_validate
from trainwise.data.catalog import get_builtin

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SETTINGS: list[tuple[str, str, list[str], str]] = [
    ("ml-100k explicit MF", "movielens.toml", [], "rmse"),
    ("ml-100k implicit BPR-MF", "movielens-implicit.toml", [], "ndcg@10"),
    ("ml-100k implicit NeuMF", "movielens-implicit.toml", ["model.name=neumf", "model.hidden=[64, 32]"], "ndcg@10"),
    ("dslabs explicit MF", "movielens.toml", ["data.name=movielens-dslabs"], "rmse"),
]


def _installed(config: Path, overrides: list[str]) -> str | None:
    recipe = trainwise.load_recipe(config, overrides)
    builtin = get_builtin(recipe.data.name or "")
    return None if builtin.installed() else f"{builtin.name} not installed ({builtin.install})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", action="store_true", help="also run 5-fold CV of examples/movielens.toml")
    parser.add_argument("--only", help="run only settings whose label contains this text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, config, overrides, metric in SETTINGS:
            if args.only and args.only not in label:
                continue
            path = EXAMPLES / config
            command = " ".join(["trainwise fit", f"examples/{config}", *(f"--set '{o}'" for o in overrides)])
            missing = _installed(path, overrides)
            if missing:
                print(f"{label}: skipped, {missing}")
                continue
            start = time.perf_counter()
            result = trainwise.fit(path, overrides=overrides, out=Path(tmp) / label.replace(" ", "-"), progress="off")
            baseline = result.report["baseline"]["test"][metric]
            score = (result.test or {})[metric]
            ratio = baseline / score if metric == "rmse" else score / baseline
            print(
                f"{label}: test {metric} {score:.4f} vs baseline {baseline:.4f} "
                f"(model better by x{ratio:.3f}) in {time.perf_counter() - start:.0f} s  [{command}]",
                flush=True,
            )
        if args.folds:
            result_cv = cross_validate(EXAMPLES / "movielens.toml", overrides=["data.folds=5"], out=Path(tmp) / "cv")
            print(
                f"ml-100k explicit MF 5-fold: test rmse {result_cv.mean['rmse']:.4f} +- {result_cv.sd['rmse']:.4f} "
                f"vs baseline {result_cv.baseline_mean['rmse']:.4f} +- {result_cv.baseline_sd['rmse']:.4f}  "
                "[trainwise fit examples/movielens.toml --set data.folds=5]",
                flush=True,
            )


if __name__ == "__main__":
    main()
