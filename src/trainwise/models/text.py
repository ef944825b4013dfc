"""Text classifiers over padded token ids (N, L): bag of embeddings, a 1-D CNN, a small transformer encoder.

Each takes the vocabulary size and padding id from `[model]` (the text task fills them in from its
tokenizer) and returns logits.
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.config import ModelConfig
from trainwise.errors import ConfigError
from trainwise.models.mlp import MLP


class BagOfEmbeddings(nn.Module):
    """Mean of the token embeddings (padding excluded), then an MLP: fast and a strong baseline.

    With `bigram_buckets` > 0, pairs of neighbouring tokens are hashed into that many extra embeddings and
    join the bag (fastText's trick: word order at the cost of one more lookup).
    """

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        hidden: list[int],
        outputs: int,
        padding_id: int,
        activation: str,
        dropout: float,
        bigram_buckets: int = 0,
    ) -> None:
        super().__init__()
        self.vocab_size, self.padding_id, self.buckets = vocab_size, padding_id, bigram_buckets
        self.bag = nn.EmbeddingBag(vocab_size + bigram_buckets, dim, mode="mean", padding_idx=padding_id)
        self.head = MLP(dim, hidden, outputs, activation, dropout, False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.long()  # minilm-bag passes them as floats, next to the embedding
        if self.buckets:
            left, right = ids[:, :-1], ids[:, 1:]
            bigrams = (left * 1_000_003 + right) % self.buckets + self.vocab_size
            padded = (left == self.padding_id) | (right == self.padding_id)
            ids = torch.cat([ids, bigrams.masked_fill(padded, self.padding_id)], dim=1)
        return self.head(self.bag(ids))


class TfidfBag(nn.Module):
    """A bag weighted per position (TF-IDF weights the text task computes): the weighted sum of the ids' embeddings.

    A sample is its bag ids (tokens, then hashed pairs) followed by as many weights, all as floats. With no
    `head` the embeddings are the class logits themselves (zero at the start): a full-rank linear model over the
    TF-IDF vector, as logistic regression is; with a head, an MLP reads the weighted sum.
    """

    def __init__(self, size: int, dim: int, head: nn.Module | None) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(size, dim, mode="sum")
        self.head = head
        self.bias = nn.Parameter(torch.zeros(dim)) if head is None else None
        if head is None:
            nn.init.zeros_(self.bag.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[1] // 2
        summed = self.bag(x[:, :width].long(), per_sample_weights=x[:, width:].contiguous())
        return summed + self.bias if self.head is None else self.head(summed)


class TextCNN(nn.Module):
    """Embeddings, parallel 1-D convolutions of several widths, max over time, then a linear layer."""

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        channels: int,
        kernel_sizes: list[int],
        outputs: int,
        padding_id: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_id)
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, k, padding=k // 2) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(channels * len(kernel_sizes), outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids).transpose(1, 2)  # (N, D, L)
        pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]
        return self.out(self.dropout(torch.cat(pooled, dim=1)))


class TransformerClassifier(nn.Module):
    """Token + learned position embeddings, a TransformerEncoder with a padding mask, masked mean pooling."""

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        dim: int,
        heads: int,
        layers: int,
        feedforward: int,
        outputs: int,
        padding_id: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.padding_id = padding_id
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_id)
        self.position = nn.Embedding(max_length, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, feedforward, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        padding = ids == self.padding_id
        padding[:, 0] = False  # an all-padding row would make attention NaN: let it see one position
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.encoder(self.embed(ids) + self.position(positions), src_key_padding_mask=padding)
        keep = (~padding).unsqueeze(-1).to(x.dtype)
        pooled = (self.norm(x) * keep).sum(dim=1) / keep.sum(dim=1)
        return self.out(pooled)


def _vocab(cfg: ModelConfig, input_shape: tuple[int, ...]) -> tuple[int, int]:
    if cfg.vocab_size is None or len(input_shape) != 1:
        raise ConfigError(
            f"model '{cfg.name}' reads token ids: use it with task = \"text\" (samples shaped (max_length,), "
            f"got {tuple(input_shape)})",
            key="model.name",
        )
    return cfg.vocab_size, cfg.padding_id


FLOAT_EXACT_IDS = 2**24  # ids travel in float32 samples next to weights or embeddings: exact below this


def _tfidf_bag(cfg: ModelConfig, outputs: int, linear: bool) -> TfidfBag:
    """The bag of `weighting = "tfidf"`: linear logits, or embeddings of `embedding_dim` read by an MLP."""
    size = (cfg.vocab_size or 0) + cfg.bigram_buckets
    if size > FLOAT_EXACT_IDS:
        raise ConfigError(
            f"vocabulary plus bigram_buckets is {size}; expected at most {FLOAT_EXACT_IDS} for a weighted bag",
            key="model.bigram_buckets",
        )
    if linear:
        return TfidfBag(size, outputs, None)
    head = MLP(cfg.embedding_dim, cfg.hidden, outputs, cfg.activation, cfg.dropout, False)
    return TfidfBag(size, cfg.embedding_dim, head)


def bag(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    vocab, pad = _vocab(cfg, input_shape)
    if cfg.weighting == "tfidf":  # hidden = []: TF-IDF + a linear layer, i.e. logistic regression
        return _tfidf_bag(cfg, outputs, linear=not cfg.hidden)
    return BagOfEmbeddings(
        vocab, cfg.embedding_dim, cfg.hidden, outputs, pad, cfg.activation, cfg.dropout, cfg.bigram_buckets
    )


def text_cnn(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    vocab, pad = _vocab(cfg, input_shape)
    return TextCNN(vocab, cfg.embedding_dim, cfg.channels[0], cfg.kernel_sizes, outputs, pad, cfg.dropout)


def transformer(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    vocab, pad = _vocab(cfg, input_shape)
    if cfg.embedding_dim % cfg.heads:
        raise ConfigError(
            f"model.embedding_dim ({cfg.embedding_dim}) must be divisible by model.heads ({cfg.heads})",
            key="model.heads",
        )
    feedforward = cfg.hidden[0] if cfg.hidden else 4 * cfg.embedding_dim
    return TransformerClassifier(
        vocab, input_shape[0], cfg.embedding_dim, cfg.heads, cfg.layers, feedforward, outputs, pad, cfg.dropout
    )


def minilm_head(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    """The trained head over frozen MiniLM sentence embeddings (the text task computes them): an MLP."""
    from trainwise.data.sentence import EMBEDDING_DIM

    if tuple(input_shape) != (EMBEDDING_DIM,):
        raise ConfigError(
            f"model 'minilm' reads {EMBEDDING_DIM}-number sentence embeddings: use it with task = \"text\" "
            f"(got samples shaped {tuple(input_shape)})",
            key="model.name",
        )
    return MLP(EMBEDDING_DIM, cfg.hidden, outputs, cfg.activation, cfg.dropout, cfg.batch_norm)


class SentenceAndBag(nn.Module):
    """Logits of a head over the MiniLM embedding plus those of a fastText bag over the token ids.

    Summed logits of two linear parts are one linear model over both feature sets: the pretrained sentence
    meaning and the corpus's own words and word pairs (which the frozen encoder, trained elsewhere, misses).
    """

    def __init__(self, head: nn.Module, bag: nn.Module, split: int) -> None:
        super().__init__()
        self.head, self.bag, self.split = head, bag, split

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x[:, : self.split]) + self.bag(x[:, self.split :])


def minilm_bag(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    """`minilm` head + `bag` (embedding_dim, bigram_buckets) over the token ids that follow the embedding.

    With `weighting = "tfidf"` the bag is linear (tokens and pairs straight to logits, TF-IDF weighted): a
    wide-and-deep sum of a TF-IDF linear model and the sentence embedding's head.
    """
    from trainwise.data.sentence import EMBEDDING_DIM

    if cfg.vocab_size is None or len(input_shape) != 1 or input_shape[0] <= EMBEDDING_DIM:
        raise ConfigError(
            f"model 'minilm-bag' reads a sentence embedding and token ids: use it with task = \"text\" "
            f"(got samples shaped {tuple(input_shape)})",
            key="model.name",
        )
    head = MLP(EMBEDDING_DIM, cfg.hidden, outputs, cfg.activation, cfg.dropout, cfg.batch_norm)
    if cfg.weighting == "tfidf":
        return SentenceAndBag(head, _tfidf_bag(cfg, outputs, linear=True), EMBEDDING_DIM)
    words = BagOfEmbeddings(
        cfg.vocab_size, cfg.embedding_dim, [], outputs, cfg.padding_id, cfg.activation, 0.0, cfg.bigram_buckets
    )
    return SentenceAndBag(head, words, EMBEDDING_DIM)


TEXT_MODELS = {
    "bag": bag,
    "text-cnn": text_cnn,
    "transformer": transformer,
    "minilm": minilm_head,
    "minilm-bag": minilm_bag,
}
