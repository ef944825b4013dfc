"""Batch augmentation: each op does what it says, a batch's draw depends only on its place, mixing mixes the loss."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import trainwise
from trainwise.config import AugmentConfig
from trainwise.engine import checkpoint
from trainwise.engine.augment import Augmenter, cut_and_paste, cutout, random_affine, random_crop, random_flip
from trainwise.errors import ConfigError

RunFit = Callable[..., trainwise.FitResult]


def images(n: int = 6, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0)) + 0.5  # no zeros inside


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_crop_is_a_shifted_window_of_the_zero_padded_image() -> None:
    x = images()
    out = random_crop(x, 2, gen())
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    assert not torch.equal(out, x)  # 6 images: some offset is not the centre


def test_flip_mirrors_with_its_probability() -> None:
    x = images()
    assert torch.equal(random_flip(x, 1.0, gen()), x.flip(3))
    assert torch.equal(random_flip(x, 0.0, gen()), x)


def test_affine_without_motion_is_the_identity_and_with_it_moves_pixels() -> None:
    x = images()
    torch.testing.assert_close(random_affine(x, 0.0, 0.0, gen()), x, atol=1e-5, rtol=0)
    moved = random_affine(x, 0.2, 15.0, gen())
    assert moved.shape == x.shape and (moved - x).abs().max() > 0.1


def test_cutout_zeroes_one_square_of_the_given_side_at_most() -> None:
    x = images(n=50)
    out = cutout(x, 3, gen())
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert zeros.max() == 9 and zeros.min() >= 1  # clipped at the border, never bigger than 3x3


def test_cutmix_weight_is_the_share_of_pixels_kept() -> None:
    import numpy as np

    x = images()
    perm = torch.tensor([1, 2, 3, 4, 5, 0])
    out, weight = cut_and_paste(x, perm, 0.5, np.random.default_rng(0))
    kept = (out == x).float().mean().item()
    assert weight == pytest.approx(kept)
    assert 0 < weight < 1


def test_mixup_blends_the_batch_with_a_permutation_and_returns_its_targets() -> None:
    x, y = images(), torch.arange(6)
    out, mixed, weight = Augmenter(AugmentConfig(mixup=0.4), seed=0)(x, y, epoch=0, batch=0)
    assert mixed is not None and 0 < weight < 1
    torch.testing.assert_close(out, weight * x + (1 - weight) * x[mixed], atol=1e-6, rtol=1e-6)


def test_a_batch_draw_depends_only_on_seed_epoch_and_batch() -> None:
    config = AugmentConfig(crop_padding=2, flip=0.5, rotate=10, cutout=2, cutmix=1.0)
    x, y = images(), torch.arange(6)
    first = Augmenter(config, seed=3)(x, y, 1, 4)
    again = Augmenter(config, seed=3)(x, y, 1, 4)
    assert torch.equal(first[0], again[0]) and first[2] == again[2]
    for other in (Augmenter(config, seed=3)(x, y, 1, 5), Augmenter(config, seed=4)(x, y, 1, 4)):
        assert not torch.equal(first[0], other[0])
    flat = Augmenter(config, seed=3)(x.squeeze(1), y, 1, 4)  # (B, H, W) works the same
    assert torch.equal(flat[0], first[0].squeeze(1))


class Flatten(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def image_data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(180) % 3
    x = torch.rand(180, 1, 8, 8, generator=g) * 0.3
    x[y == 0, :, :4] += 0.7  # a bright top half, a bright left half, or neither
    x[y == 1, :, :, :4] += 0.7
    return {"train": (x[:150], y[:150]), "val": (x[150:], y[150:])}


AUGMENT: dict[str, Any] = {"crop_padding": 1, "flip": 0.5, "shift": 0.1, "rotate": 10, "cutout": 2, "mixup": 0.4}


def test_augmented_fit_learns_and_resumes_exactly(run_fit: RunFit, tmp_path: Path) -> None:
    """A user model on (1, 8, 8) images; stopped after epoch 2 and resumed, it ends where the straight run does."""
    data = image_data()
    settings: dict[str, Any] = {"augment": AUGMENT, "epochs": 3, "seed": 2, "learning_rate": 0.01, "batch_size": 16}
    reference = run_fit(data, model=Flatten(), **settings)
    plain = run_fit(data, model=Flatten(), **{**settings, "augment": {}})
    assert reference.final["train_loss"] != plain.final["train_loss"]
    assert reference.final["val_accuracy"] > 0.6

    class StopAfter(trainwise.Callback):
        def on_epoch_end(self, loop: Any) -> None:
            loop.state.stop = loop.state.epoch == 2

    out = tmp_path / "stopped"
    trainwise.fit(
        train=data["train"],
        val=data["val"],
        model=Flatten(),
        out=out,
        progress="off",
        callbacks=[StopAfter()],
        **settings,
    )
    resumed = trainwise.fit(
        train=data["train"], val=data["val"], model=Flatten(), out=out, resume=True, progress="off", **settings
    )
    saved, ref = (checkpoint.load(d / "checkpoints" / "last.pt")["model"] for d in (out, reference.run_dir))
    for key in ref:
        assert torch.equal(saved[key], ref[key]), key
    assert [e["val_loss"] for e in resumed.history] == [e["val_loss"] for e in reference.history]


def test_augmenting_flat_features_is_a_config_error(run_fit: RunFit) -> None:
    x = torch.rand(40, 8)
    with pytest.raises(ConfigError, match=r"\[augment\] works on images"):
        run_fit({"train": (x, torch.arange(40) % 2)}, augment={"flip": 0.5})


def test_validation_and_test_see_the_images_unaugmented(run_fit: RunFit) -> None:
    """Every training image is flipped and cut out, yet the logged val_loss and the test metrics are those of the
    final model on the plain images."""
    from trainwise.config import RegularizationConfig
    from trainwise.engine import loop as engine
    from trainwise.engine.batches import make_batches
    from trainwise.engine.optim import build_loss

    data = image_data()
    data["test"] = data["val"]
    result = run_fit(data, model=Flatten(), epochs=1, augment={"flip": 1.0, "cutout": 4}, learning_rate=0.01)
    loss = build_loss("cross_entropy", RegularizationConfig())
    plain = engine.evaluate(result.model, make_batches(data["val"], 1024, torch.device("cpu")), loss, ["accuracy"])
    assert result.history[-1]["val_loss"] == pytest.approx(plain["loss"], rel=1e-6)
    assert result.test == pytest.approx(plain, rel=1e-6)
    flipped = engine.evaluate(
        result.model, make_batches((data["val"][0].flip(3), data["val"][1]), 1024, torch.device("cpu")), loss, []
    )
    assert flipped["loss"] != pytest.approx(plain["loss"], rel=1e-3)  # so the check above could fail


def test_each_epoch_draws_afresh() -> None:
    config = AugmentConfig(crop_padding=2, flip=0.5)
    x, y = images(n=16), torch.arange(16)
    augment = Augmenter(config, seed=0)
    assert not torch.equal(augment(x, y, 0, 3)[0], augment(x, y, 1, 3)[0])


def test_each_image_gets_its_own_draw_and_stays_with_its_label() -> None:
    """Within one batch the crop offsets and flips differ per image, and no op reorders images against labels."""
    n = 64
    x = torch.zeros(n, 1, 12, 12)
    x[:, :, 4:8, 4:8] = (torch.arange(n, dtype=torch.float32) + 1).view(n, 1, 1, 1)  # image i shows the value i+1
    x[:, :, 4, 4] += 1000.0  # a marked corner, to see the flip
    out, mixed, weight = Augmenter(AugmentConfig(crop_padding=2, flip=0.5, cutout=2), seed=0)(x, torch.arange(n), 0, 0)
    assert mixed is None and weight == 1.0
    kept = out.masked_fill(out >= 1000, 0).amax(dim=(1, 2, 3))  # the block survives a 2x2 cutout in part
    assert torch.equal(kept, torch.arange(n, dtype=torch.float32) + 1)
    marks = [tuple((out[i, 0] >= 1000).nonzero()[0].tolist()) for i in range(n) if (out[i] >= 1000).any()]
    assert len(set(marks)) > 10  # many distinct (offset, flip) placements of the mark in one batch
