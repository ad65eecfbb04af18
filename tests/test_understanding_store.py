"""Work saved between starts (bot/understanding/store.py): a second start reads the encoded
examples and the trained classifiers back instead of computing them, the files are private,
and a damaged or stale file is computed again rather than trusted."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.conversation.interpret import shared_encoder
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
from bot.understanding.encoder import MiniLMEncoder, package_model_dir
from bot.understanding.intents import remembered_softmax, train_softmax
from bot.understanding.store import remembered
from tests.behaviour import production
from tests.conftest import Clock


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> MiniLMEncoder:
    cache = tmp_path_factory.mktemp("verified") / "verified.json"
    return MiniLMEncoder.from_dir(package_model_dir(), verified_cache=cache, cache_size=64)


class Counting:
    """Wraps ``encode`` to count the texts that really went through the model."""

    def __init__(self, model: MiniLMEncoder) -> None:
        self.model, self.encoded = model, 0
        self._real: Callable[[Sequence[str]], np.ndarray] = model._encode_uncached

    def __enter__(self) -> Counting:
        def counted(texts: list[str]) -> np.ndarray:
            self.encoded += len(texts)
            return self._real(texts)

        self.model._encode_uncached = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.model._encode_uncached = self._real  # type: ignore[method-assign]


def _forget_memory(model: MiniLMEncoder) -> None:
    model._cache.clear()  # a new process: nothing in memory, only the files


def test_second_start_reads_the_examples_back(model: MiniLMEncoder, tmp_path: Path) -> None:
    texts = ["I got rejected today", "log an interview", "show me my plan"]
    with Counting(model) as first:
        model.preload(texts, tmp_path)
    assert first.encoded == 3
    files = list(tmp_path.glob("vectors-*.npz"))
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    expected = model.encode(texts)
    _forget_memory(model)
    with Counting(model) as second:
        model.preload(texts, tmp_path)
        again = model.encode(texts)
    assert second.encoded == 0
    assert np.array_equal(again, expected)


def test_other_texts_are_encoded_not_served_from_the_old_file(
    model: MiniLMEncoder, tmp_path: Path
) -> None:
    model.preload(["one example"], tmp_path)
    _forget_memory(model)
    with Counting(model) as changed:
        model.preload(["one example", "a new example in the flows"], tmp_path)
    assert changed.encoded == 2


def test_a_damaged_file_is_computed_again(model: MiniLMEncoder, tmp_path: Path) -> None:
    texts = ["what's next on my plan"]
    model.preload(texts, tmp_path)
    (stored,) = tmp_path.glob("vectors-*.npz")
    stored.write_bytes(b"not an array at all")
    _forget_memory(model)
    with Counting(model) as again:
        model.preload(texts, tmp_path)
    assert again.encoded == 1
    assert np.allclose(model.encode(texts), model._encode_uncached(texts))


def test_trained_classifier_is_remembered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    y = np.arange(40) % 3
    calls = []
    monkeypatch.setattr(
        "bot.understanding.intents.train_softmax",
        lambda *a, **k: calls.append(1) or train_softmax(*a, **k),
    )
    first = remembered_softmax(x, y, 3)
    second = remembered_softmax(x, y, 3)
    assert len(calls) == 1
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    remembered_softmax(x, (y + 1) % 3, 3)  # other labels: trained again
    assert len(calls) == 2


def test_an_unwritable_folder_only_means_computing_again(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    made = remembered("vectors", "k", lambda: {"v": np.ones(3, np.float32)}, blocked)
    assert made["v"].tolist() == [1.0, 1.0, 1.0]


def test_a_typed_message_waits_for_the_model_without_holding_the_database(
    db: Database, settings: Settings, clock: Clock
) -> None:
    """While the encoder is still loading, a typed message waits for it outside its
    transaction: another person's button press (and the reminder scheduler, which writes to
    the same database) is not held up behind it."""
    release = threading.Event()

    def slow_loader() -> object:
        release.wait(10)
        return shared_encoder()

    engine = Engine(db, settings, production(), clock=clock, encoder=slow_loader)
    bob = UserKey("terminal", "local", "bob")
    engine.resume(bob)  # bob is at the welcome: pressing a button needs no model
    answered: list[object] = []
    ann = Inbound(user=UserKey("terminal", "local", "ann"), text="I got rejected today")
    typed = threading.Thread(target=lambda: answered.append(engine.handle(ann)))
    typed.start()
    time.sleep(0.3)  # ann's turn is now waiting for the model
    bob_replies = engine.handle(Inbound(user=bob, choice="1"))
    ann_still_waiting = typed.is_alive() and not answered
    release.set()
    typed.join(20)
    assert bob_replies and "went wrong" not in bob_replies[0].text
    assert ann_still_waiting  # bob was answered while ann's turn still waited for the model
    assert answered and answered[0]
