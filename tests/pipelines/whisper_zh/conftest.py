"""Fixtures of the whisper_zh pipeline's tests."""

from __future__ import annotations

import pytest

from tests.support import BAD_TRAIN_ROWS


@pytest.fixture(scope="session")
def bad_train_rows() -> dict[str, str]:
    """The bad rows planted in the train split of ``small_corpus``: clip path -> expected drop reason."""
    return BAD_TRAIN_ROWS
