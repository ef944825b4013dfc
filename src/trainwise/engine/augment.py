"""Image augmentation on the batch tensor, on the device, in a few lines of torch (no torchvision, no kornia).

Each op draws its per-sample parameters from a generator seeded by (run seed, epoch, batch), so a batch's
augmentation is a pure function of where it is in the run: a resumed run augments exactly as an
uninterrupted one would, with no generator state to checkpoint. Mixup and cutmix return the second targets
and their weight, and the loop mixes the loss accordingly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from trainwise.config import AugmentConfig

Mixed = tuple[torch.Tensor, torch.Tensor | None, float]


class Augmenter:
    """Applies the `[augment]` ops to a batch of images shaped (B, C, H, W) or (B, H, W)."""

    def __init__(self, config: AugmentConfig, seed: int) -> None:
        self.config, self.seed = config, seed

    def __call__(self, x: torch.Tensor, y: torch.Tensor, epoch: int, batch: int) -> Mixed:
        """(augmented x, the mixed-in targets or None, the weight of `y` in the loss)."""
        cfg = self.config
        seed = _batch_seed(self.seed, epoch, batch)
        gen = torch.Generator(device=x.device).manual_seed(seed)
        draw = np.random.default_rng(seed)  # scalars on the host: no device sync
        flat = x.dim() == 3
        images = x.unsqueeze(1) if flat else x
        if cfg.crop_padding:
            images = random_crop(images, cfg.crop_padding, gen)
        if cfg.flip:
            images = random_flip(images, cfg.flip, gen)
        if cfg.shift or cfg.rotate:
            images = random_affine(images, cfg.shift, cfg.rotate, gen)
        if cfg.cutout:
            images = cutout(images, cfg.cutout, gen)
        mixed: torch.Tensor | None = None
        weight = 1.0
        if cfg.mixed and draw.random() < cfg.mix_probability:
            use_cutmix = cfg.cutmix > 0 and (cfg.mixup == 0 or draw.random() < 0.5)
            alpha = cfg.cutmix if use_cutmix else cfg.mixup
            lam = float(draw.beta(alpha, alpha))
            perm = torch.randperm(len(images), generator=gen, device=x.device)
            if use_cutmix:
                images, weight = cut_and_paste(images, perm, lam, draw)
            else:
                images, weight = images.lerp(images[perm], 1.0 - lam), lam
            mixed = y[perm]
        return (images.squeeze(1) if flat else images), mixed, weight


def random_crop(images: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad each side by `padding`, then cut each image back to its size at a random offset."""
    b, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b, 1, 1), generator=gen, device=images.device)
    dx = torch.randint(0, 2 * padding + 1, (b, 1, 1), generator=gen, device=images.device)
    rows = torch.arange(h, device=images.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=images.device).view(1, 1, w) + dx
    index = torch.arange(b, device=images.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[index, rows, cols].permute(0, 3, 1, 2)


def random_flip(images: torch.Tensor, probability: float, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with `probability`."""
    flip = torch.rand(len(images), 1, 1, 1, generator=gen, device=images.device) < probability
    return torch.where(flip, images.flip(3), images)


def random_affine(images: torch.Tensor, shift: float, degrees: float, gen: torch.Generator) -> torch.Tensor:
    """Rotate by up to `degrees` and translate by up to `shift` of the size, per image (bilinear, zero fill)."""
    b = len(images)
    device = images.device
    angle = (torch.rand(b, generator=gen, device=device) * 2 - 1) * math.radians(degrees)
    move = (torch.rand(b, 2, generator=gen, device=device) * 2 - 1) * (2 * shift)  # grid coordinates span 2
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([torch.stack([cos, -sin, move[:, 0]], 1), torch.stack([sin, cos, move[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)


def cutout(images: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero a `size` x `size` square centred at a random pixel of each image (clipped at the border)."""
    b, _, h, w = images.shape
    cy = torch.randint(0, h, (b, 1, 1), generator=gen, device=images.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=gen, device=images.device)
    rows = torch.arange(h, device=images.device).view(1, h, 1)
    cols = torch.arange(w, device=images.device).view(1, 1, w)
    low = size // 2
    hole = (rows >= cy - low) & (rows < cy - low + size) & (cols >= cx - low) & (cols < cx - low + size)
    return images.masked_fill(hole.unsqueeze(1), 0.0)


def cut_and_paste(
    images: torch.Tensor, perm: torch.Tensor, lam: float, draw: np.random.Generator
) -> tuple[torch.Tensor, float]:
    """CutMix: paste a box of area (1 - lam) from the permuted batch; the weight is the area actually kept."""
    _, _, h, w = images.shape
    cut_h, cut_w = int(h * math.sqrt(1.0 - lam)), int(w * math.sqrt(1.0 - lam))
    cy, cx = int(draw.integers(0, h)), int(draw.integers(0, w))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
    out = images.clone()
    out[:, :, top:bottom, left:right] = images[perm, :, top:bottom, left:right]
    return out, 1.0 - (bottom - top) * (right - left) / (h * w)


def _batch_seed(seed: int, epoch: int, batch: int) -> int:
    """A distinct 63-bit seed per (seed, epoch, batch), mixed so nearby positions are unrelated."""
    value = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + batch * 0x94D049BB133111EB) % 2**64
    value ^= value >> 31
    return value % 2**63
