"""Bad input at the command line: one line `error: ...`, exit status 2, no traceback, and no earlier run harmed.

A good tiny run is trained once. Every case then runs the real `trainwise` script in a folder of its own that
holds a copy of that run (`run/`), its data and its config, and passes `--out run` (with `--resume` where a
resume could get that far); afterwards the copy must be byte-identical and the folder must hold nothing new.
Each case is a subprocess that mostly waits on importing torch, so the cases run a few at a time in one module
fixture and each test checks its own case. Cases that only widen the coverage of messages run through `cli.main`
in this process, with the same checks.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from torch import nn

import trainwise
from trainwise import cli

TRAINWISE = Path(sys.executable).parent / "trainwise"  # the installed console script, as a user runs it
WORKERS = 3
GOOD_CONFIG_TOP = {"task": '"tabular"', "epochs": "1", "batch_size": "16"}


# --- inputs --------------------------------------------------------------------------------------------


def csv_lines(rows: int = 60, seed: int = 0) -> list[str]:
    """A 3-class table with 4 features: the header, then `rows` rows whose label is (row index) % 3."""
    rng = np.random.default_rng(seed)
    lines = ["f1,f2,f3,f4,label"]
    for i in range(rows):
        label = i % 3
        lines.append(",".join(f"{2 * label + v:.3f}" for v in rng.random(4)) + f",{label}")
    return lines


def csv_text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def with_cell(row: int, column: int, value: str) -> str:
    """The good table with one cell replaced; `row` counts file lines from 1 (the header is line 1)."""
    lines = csv_lines()
    cells = lines[row - 1].split(",")
    cells[column] = value
    lines[row - 1] = ",".join(cells)
    return csv_text(lines)


def config(data: str = 'path = "data.csv"', sections: str = "", **top: str) -> str:
    """A tabular config like the good run's, with top-level keys replaced and sections added."""
    keys = {**GOOD_CONFIG_TOP, **top}
    head = "".join(f"{key} = {value}\n" for key, value in keys.items())
    return f"{head}\n[data]\n{data}\nvalidation_split = 0.2\n\n[model]\nhidden = [8]\n\n{sections}"


def idx(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: two zero bytes, type 0x08, the number of dims, dims, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


IMAGES = np.random.default_rng(1).integers(0, 256, (40, 4, 4), dtype=np.uint8)
LABELS = (np.arange(40) % 3).astype(np.uint8)
IDX_CONFIG = 'task = "image"\nepochs = 1\nbatch_size = 16\n\n[data]\n{data}\nscale = 255\n\n[model]\nhidden = [8]\n'


def idx_config(path: str = "images.idx", labels: str | None = "labels.idx", model: str = "") -> str:
    data = f'path = "{path}"' + (f'\nlabels_path = "{labels}"' if labels else "")
    return IDX_CONFIG.format(data=data) + model


GOOD_IDX = {"images.idx": idx(IMAGES), "labels.idx": idx(LABELS)}


# --- cases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad command: its arguments, the files it needs, and what its one error line must say."""

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    files: Mapping[str, str | bytes] = field(default_factory=dict)  # written into the case folder
    remove: tuple[str, ...] = ()  # files of the good run's folder to delete first (e.g. its data)
    env: Mapping[str, str] = field(default_factory=dict)  # "{folder}" stands for the case folder
    in_process: bool = False  # through cli.main in this process: cheap (the subprocess cases prove the script)


def in_process(case: Case) -> Case:
    return replace(case, in_process=True)


def both(
    name: str, args: tuple[str, ...], expect: tuple[str, ...], files: Mapping[str, str | bytes] | None = None
) -> list[Case]:
    """The case with `--out run` (a new run into a taken folder) and with `--resume --out run`."""
    return [
        Case(f"{name}-new", (*args, "--out", "run"), expect, files or {}),
        Case(f"{name}-resume", (*args, "--resume", "--out", "run"), expect, files or {}),
    ]


def bad(name: str, text: str | bytes, expect: tuple[str, ...], **files: str | bytes) -> Case:
    """A new run from `bad.toml` holding `text` (resuming would stop earlier: the config differs from the run's)."""
    return Case(name, ("fit", "bad.toml", "--out", "run"), expect, {"bad.toml": text, **files})


CONFIG_CASES = [
    *both("missing-config", ("fit", "absent.toml"), ("absent.toml", "config file not found")),
    *both(
        "toml-syntax",
        ("fit", "bad.toml"),
        ("bad.toml", "TOML syntax error", "line 3"),
        files={"bad.toml": 'task = "tabular"\nepochs = 1\nbatch_size = = 16\n'},
    ),
    *both(
        "unknown-key",
        ("fit", "bad.toml"),
        ("bad.toml: epoch: unknown key", "did you mean 'epochs'?"),
        files={"bad.toml": config(epoch="1")},
    ),
    *both(
        "unknown-nested-key",
        ("fit", "bad.toml"),
        ("bad.toml: optimizer.learning_rat: unknown key", "did you mean 'optimizer.learning_rate'?"),
        files={"bad.toml": config(sections="[optimizer]\nlearning_rat = 0.01\n")},
    ),
    *both(
        "unknown-section",
        ("fit", "bad.toml"),
        ("bad.toml: optimiser: unknown key", "did you mean 'optimizer'?"),
        files={"bad.toml": config(sections='[optimiser]\nname = "sgd"\n')},
    ),
    *both(
        "wrong-type",
        ("fit", "bad.toml"),
        ("bad.toml: seed:", "valid integer", "'zero'"),
        files={"bad.toml": config(seed='"zero"')},
    ),
    *both(
        "wrong-type-list",
        ("fit", "bad.toml"),
        ("bad.toml: model.hidden:", "valid list", "'wide'"),
        files={"bad.toml": config().replace("hidden = [8]", 'hidden = "wide"')},
    ),
    *both(
        "learning-rate-zero",
        ("fit", "bad.toml"),
        ("bad.toml: optimizer.learning_rate:", "greater than 0", "got 0"),
        files={"bad.toml": config(sections="[optimizer]\nlearning_rate = 0\n")},
    ),
    *both(
        "learning-rate-negative",
        ("fit", "bad.toml"),
        ("bad.toml: optimizer.learning_rate:", "greater than 0", "got -0.1"),
        files={"bad.toml": config(sections="[optimizer]\nlearning_rate = -0.1\n")},
    ),
    *both(
        "batch-size-zero",
        ("fit", "bad.toml"),
        ("bad.toml: batch_size:", "integer >= 1", '"full"', "got 0"),
        files={"bad.toml": config(batch_size="0")},
    ),
    *both(
        "set-learning-rate-negative",
        ("fit", "good.toml", "--set", "optimizer.learning_rate=-1"),
        ("--set: optimizer.learning_rate:", "greater than 0", "got -1"),
    ),
    *both(
        "set-unknown-section",
        ("fit", "good.toml", "--set", "nonsense.key=1"),
        ("--set: nonsense: unknown key",),
    ),
    *both(
        "set-unknown-key",
        ("fit", "good.toml", "--set", "optimizer.learnin_rate=0.1"),
        ("--set: optimizer.learnin_rate: unknown key", "did you mean 'optimizer.learning_rate'?"),
    ),
    *both(
        "set-batch-size-zero",
        ("fit", "good.toml", "--set", "batch_size=0"),
        ("--set: batch_size:", "integer >= 1"),
    ),
    *both(
        "set-epochs-zero",  # epochs may change on a resume, so this is the value a resume would use
        ("fit", "good.toml", "--set", "epochs=0"),
        ("--set: epochs:", "greater than or equal to 1"),
    ),
    *both(
        "set-wrong-type",
        ("fit", "good.toml", "--set", "epochs=many"),
        ("--set: epochs:", "valid integer", "'many'"),
    ),
    *both(
        "set-bad-choice",
        ("fit", "good.toml", "--set", "schedule.name=cosin"),
        ("--set: schedule.name:", "'cosine'", "got 'cosin'"),
    ),
    *both(
        "set-without-equals",
        ("fit", "good.toml", "--set", "epochs"),
        ("--set: expected key=value", "got 'epochs'"),
    ),
    *both(
        "set-into-a-value",
        ("fit", "good.toml", "--set", "epochs.x=1"),
        ("--set: epochs.x: 'epochs' is a value, not a section",),
    ),
]

USAGE_CASES = [
    Case("unknown-flag", ("fit", "good.toml", "--out", "run", "--bogus"), ("unrecognized arguments: --bogus",)),
    Case("unknown-command", ("fitt", "good.toml", "--out", "run"), ("invalid choice: 'fitt'",)),
    Case("no-command", (), ("required: command",)),
    Case("no-config", ("fit", "--out", "run"), ("trainwise fit:", "required: config")),
    in_process(
        Case("resume-without-out", ("fit", "good.toml", "--resume"), ("resume needs the run directory", "--out DIR"))
    ),
]

BUILD_CASES = [
    bad(
        "unknown-optimizer",
        config(sections='[optimizer]\nname = "adamm"\n'),
        ("bad.toml: optimizer.name: unknown optimizer 'adamm'", "did you mean 'adam'?"),
    ),
    bad(
        "unknown-loss",
        config(loss='"crossentropy"'),
        ("bad.toml: loss: unknown loss 'crossentropy'", "did you mean 'cross_entropy'?"),
    ),
    bad(
        "unknown-model",
        config().replace("[model]\n", '[model]\nname = "mlpp"\n'),
        ("bad.toml: model.name: unknown model 'mlpp'", "did you mean 'mlp'?"),
    ),
    in_process(
        bad(
            "model-not-for-task",
            config().replace("[model]\n", '[model]\nname = "cnn"\n'),
            ("bad.toml: model.name: model 'cnn' does not fit task 'tabular'", "expected one of mlp"),
        )
    ),
    bad(
        "model-input-size",
        config().replace("[model]\n", "[model]\ninput_size = 5\n"),
        ("bad.toml: model.input_size: 5 does not match the data", "4 features", "expected 4"),
    ),
    in_process(
        bad(
            "model-input-size-images",
            idx_config(model="input_size = 10\n"),
            ("bad.toml: model.input_size: 10 does not match the data", "16 features", "(1, 4, 4)", "expected 16"),
            **GOOD_IDX,
        )
    ),
    in_process(
        bad(
            "cnn-on-flat-samples",
            config(task='"image"').replace("[model]\n", '[model]\nname = "cnn"\n'),
            ("bad.toml: model.name: model 'cnn' needs images shaped (channels, height, width)", "(4,)"),
        )
    ),
    Case(
        "dataset-not-installed",
        ("fit", "bad.toml", "--out", "run"),
        ("fashion-mnist", "not installed", "install it with: apt-get install -y dataset-fashion-mnist"),
        files={"bad.toml": 'task = "image"\nepochs = 1\n\n[data]\nname = "fashion-mnist"\n', "empty/": b""},
        env={"TRAINWISE_FASHION_MNIST_DIR": "{folder}/empty"},
    ),
    in_process(
        bad(
            "dataset-unknown",
            'task = "image"\nepochs = 1\n\n[data]\nname = "fashion"\n',
            ("bad.toml: data.name: unknown built-in data set 'fashion'", "did you mean 'fashion-mnist'?"),
        )
    ),
]

DATA_CASES = [
    bad("csv-missing", config('path = "absent.csv"'), ("absent.csv: file not found", "expected a CSV file")),
    bad(
        "csv-truncated",
        config('path = "cut.csv"'),
        ("cut.csv: row 32: expected 5 cells (one per column), found 2",),
        **{"cut.csv": csv_text(csv_lines()[:31]) + "0.512,0.33"},
    ),
    bad(
        "csv-corrupt",
        config('path = "corrupt.csv"'),
        ("corrupt.csv: cannot read CSV", "UnicodeDecodeError"),
        **{"corrupt.csv": bytes(range(128, 256)) * 4},
    ),
    in_process(bad("csv-empty", config('path = "empty.csv"'), ("empty.csv: empty file",), **{"empty.csv": ""})),
    in_process(
        bad(
            "csv-not-a-number",
            config('path = "text.csv"'),
            ("text.csv: row 7, column 'f3': 'abc' is not a number",),
            **{"text.csv": with_cell(7, 2, "abc")},
        )
    ),
    bad(
        "csv-nan",
        config('path = "nan.csv"'),
        ("nan.csv: row 4, column 'f2': NaN", "finite"),
        **{"nan.csv": with_cell(4, 1, "nan")},
    ),
    bad(
        "label-negative",
        config('path = "negative.csv"'),
        ("negative.csv: row 5: label -1 is not a class index", "expected integers >= 0"),
        **{"negative.csv": with_cell(5, 4, "-1")},
    ),
    bad(
        "label-out-of-range-bce",
        config(loss='"bce"'),
        ("data.csv: row 4: label 2 is out of range", "expected 0 or 1"),
    ),
    bad(
        "idx-images-missing",
        idx_config(path="absent.idx"),
        ("absent.idx: file not found", "expected an IDX file"),
        **GOOD_IDX,
    ),
    in_process(
        bad(
            "idx-labels-missing",
            idx_config(labels="absent-labels.idx"),
            ("absent-labels.idx: file not found", "expected an IDX file"),
            **GOOD_IDX,
        )
    ),
    in_process(
        bad(
            "idx-labels-path-unset",
            idx_config(labels=None),
            ("images.idx: IDX images need their labels", "data.labels_path"),
            **GOOD_IDX,
        )
    ),
    bad(
        "idx-truncated",
        idx_config(path="cut.idx"),
        ("cut.idx: truncated: expected 640 bytes", "found 630"),
        **GOOD_IDX,
        **{"cut.idx": idx(IMAGES)[:-10]},
    ),
    in_process(
        bad(
            "idx-labels-truncated-header",
            idx_config(labels="cut-labels.idx"),
            ("cut-labels.idx: truncated header",),
            **GOOD_IDX,
            **{"cut-labels.idx": idx(LABELS)[:6]},
        )
    ),
    in_process(
        bad(
            "idx-bad-magic",
            idx_config(path="zip.idx"),
            ("zip.idx: bad magic", "0x504b"),
            **GOOD_IDX,
            **{"zip.idx": b"PK" + idx(IMAGES)[2:]},
        )
    ),
    bad(
        "idx-corrupt-gzip",
        idx_config(path="images.idx.gz"),
        ("images.idx.gz: corrupt gzip data", "expected a complete gzip stream"),
        **GOOD_IDX,
        **{"images.idx.gz": gzip.compress(idx(IMAGES))[:-20]},
    ),
    in_process(
        bad(
            "idx-label-count",
            idx_config(labels="short-labels.idx"),
            ("images.idx: 40 images but labels of shape (30,)", "expected one label per image"),
            **GOOD_IDX,
            **{"short-labels.idx": idx(LABELS[:30])},
        )
    ),
]

# The same config as the good run, so a resume gets past the config check; the data changed under it.
RESUME_CASES = [
    in_process(
        Case(
            "resume-config-changed",
            ("fit", "good.toml", "--set", "optimizer.learning_rate=0.5", "--resume", "--out", "run"),
            ("run/config.toml:", "differs from the run's saved config at 'optimizer.learning_rate'"),
        )
    ),
    Case(
        "resume-data-missing",
        ("fit", "good.toml", "--resume", "--out", "run"),
        ("data.csv: file not found",),
        remove=("data.csv",),
    ),
    Case(
        "resume-data-truncated",
        ("fit", "good.toml", "--resume", "--out", "run"),
        ("data.csv: row 22: expected 5 cells", "found 3"),
        files={"data.csv": csv_text(csv_lines()[:21]) + "0.1,0.2,0.3"},
    ),
    Case(
        "resume-data-nan",
        ("fit", "good.toml", "--resume", "--out", "run"),
        ("data.csv: row 9, column 'f1': NaN",),
        files={"data.csv": with_cell(9, 0, "NaN")},
    ),
    Case(
        "resume-label-out-of-range",  # the saved model has 3 outputs; a label 12 would need 13
        ("fit", "good.toml", "--resume", "--out", "run"),
        ("run/checkpoints/last.pt: the saved model does not fit", "(3, 8) in the checkpoint but (13, 8) now"),
        files={"data.csv": with_cell(5, 4, "12")},
    ),
    Case(
        "resume-input-size-changed",  # the saved model takes 4 features; the data now has 5
        ("fit", "good.toml", "--resume", "--out", "run"),
        ("run/checkpoints/last.pt: the saved model does not fit", "(8, 4) in the checkpoint but (8, 5) now"),
        files={"data.csv": csv_text([f"{line},{'f5' if i == 0 else '1.0'}" for i, line in enumerate(csv_lines())])},
    ),
]

# The training features' keys (accumulation, precision, weight averaging).
FEATURE_CASES = [
    bad("precision-unknown", config(precision='"fp8"'), ("bad.toml: precision:", '"32", "bf16" or "fp16"', "fp8")),
    in_process(
        bad(
            "accumulate-steps-zero",
            config(accumulate_steps="0"),
            ("bad.toml: accumulate_steps:", "greater than or equal to 1", "got 0"),
        )
    ),
    in_process(bad("ema-decay-one", config(ema_decay="1.0"), ("bad.toml: ema_decay:", "less than 1", "got 1.0"))),
    in_process(bad("ema-decay-negative", config(ema_decay="-0.5"), ("bad.toml: ema_decay:", "greater than 0"))),
    in_process(
        bad("fp16-on-cpu", config(precision='"fp16"', device='"cpu"'), ("bad.toml: precision:", "needs a CUDA device"))
    ),
]

CASES = [*CONFIG_CASES, *USAGE_CASES, *BUILD_CASES, *DATA_CASES, *RESUME_CASES, *FEATURE_CASES]
SUBPROCESS_CASES = [case for case in CASES if not case.in_process]
IN_PROCESS_CASES = [case for case in CASES if case.in_process]


# --- running -------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    run_files: dict[str, bytes]  # the copy of the good run, after the command
    added: set[str]  # paths in the case folder that the command created


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), and every directory (path/ -> b"")."""
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        files[key + "/" if path.is_dir() else key] = b"" if path.is_dir() else path.read_bytes()
    return files


def run_cli(args: tuple[str, ...], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    if not TRAINWISE.is_file():
        pytest.fail(f"no trainwise script beside {sys.executable}; install the package (pip install -e .)")
    return subprocess.run(
        [str(TRAINWISE), *args], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=300, check=False
    )


def prepare(case: Case, good: Path, folder: Path) -> set[str]:
    """A copy of the good run's folder with the case's files; returns the paths it holds."""
    shutil.copytree(good, folder)
    for name in case.remove:
        (folder / name).unlink()
    for name, content in case.files.items():
        if name.endswith("/"):
            (folder / name).mkdir()
        elif isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    return set(snapshot(folder))


def run_case(case: Case, good: Path, folder: Path, env: Mapping[str, str]) -> Outcome:
    before = prepare(case, good, folder)
    case_env = {**env, **{k: v.format(folder=folder) for k, v in case.env.items()}}
    done = run_cli(case.args, folder, case_env)
    return Outcome(done.returncode, done.stdout, done.stderr, snapshot(folder / "run"), set(snapshot(folder)) - before)


def check(case: Case, outcome: Outcome, good: Path) -> None:
    """One line `error: ...` saying what the case expects, exit status 2, and the earlier run untouched."""
    assert "Traceback" not in outcome.stderr
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.stderr
    for part in case.expect:
        assert part in lines[0]
    assert outcome.returncode == 2
    assert outcome.stdout == ""
    assert outcome.run_files == snapshot(good / "run"), "the earlier run was changed"
    assert not outcome.added, f"the command left {sorted(outcome.added)}"


@pytest.fixture(scope="module")
def cli_env(shared_cache: Path) -> dict[str, str]:
    # One torch thread each: the cases run side by side on few cores.
    env = {**os.environ, "TRAINWISE_CACHE_DIR": str(shared_cache), "OMP_NUM_THREADS": "1"}
    env.pop("TRAINWISE_FASHION_MNIST_DIR", None)
    return env


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory, cli_env: dict[str, str]) -> Path:
    """A folder with data.csv, good.toml and `run/`: a finished one-epoch run of that config."""
    folder = tmp_path_factory.mktemp("good")
    (folder / "data.csv").write_text(csv_text(csv_lines()), encoding="utf-8")
    (folder / "good.toml").write_text(config(), encoding="utf-8")
    done = run_cli(("fit", "good.toml", "--out", "run", "--quiet"), folder, cli_env)
    assert done.returncode == 0, done.stderr
    assert (folder / "run" / "checkpoints" / "last.pt").is_file()
    return folder


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, good_run: Path, tmp_path_factory: pytest.TempPathFactory, cli_env: dict[str, str]
) -> dict[str, Outcome]:
    """Run every selected subprocess case, a few at a time (each one mostly waits on importing torch)."""
    params = [getattr(getattr(item, "callspec", None), "params", {}) for item in request.session.items]
    selected = {p["case"].id for p in params if isinstance(p.get("case"), Case)}
    root = tmp_path_factory.mktemp("cases")
    todo = [case for case in SUBPROCESS_CASES if case.id in selected]
    with ThreadPoolExecutor(WORKERS) as pool:
        results = pool.map(lambda case: run_case(case, good_run, root / case.id, cli_env), todo)
        return dict(zip([case.id for case in todo], results, strict=True))


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=lambda case: case.id)
def test_bad_input_is_one_error_line_and_harms_no_run(case: Case, outcomes: dict[str, Outcome], good_run: Path) -> None:
    check(case, outcomes[case.id], good_run)


@pytest.mark.parametrize("case", IN_PROCESS_CASES, ids=lambda case: case.id)
def test_more_bad_input_in_process(
    case: Case,
    good_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same checks through `cli.main` (an unexpected exception fails the test as a traceback would)."""
    folder = tmp_path / "case"
    before = prepare(case, good_run, folder)
    monkeypatch.chdir(folder)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value.format(folder=folder))
    try:
        code = cli.main(list(case.args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    outcome = Outcome(code, captured.out, captured.err, snapshot(folder / "run"), set(snapshot(folder)) - before)
    check(case, outcome, good_run)


# --- the Python API: what the command line cannot express ----------------------------------------------


def test_labels_beyond_a_given_models_outputs_are_an_error(tmp_path: Path, good_run: Path) -> None:
    """A label 12 for a model with 10 outputs: `fit` refuses before touching the run directory."""
    shutil.copytree(good_run, tmp_path, dirs_exist_ok=True)
    (tmp_path / "data.csv").write_text(with_cell(6, 4, "12"), encoding="utf-8")
    before = snapshot(tmp_path / "run")
    recipe = trainwise.load_recipe(tmp_path / "good.toml", [f"data.path={tmp_path / 'data.csv'}"])
    model = nn.Sequential(nn.Linear(4, 10))
    with pytest.raises(trainwise.DataError, match=r"labels up to 12 but the model outputs 10 classes") as caught:
        trainwise.fit(recipe, model=model, out=tmp_path / "run", progress="off")
    assert caught.value.source == str(tmp_path / "data.csv")
    assert snapshot(tmp_path / "run") == before
