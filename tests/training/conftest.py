"""Fixtures of the training tests."""

from __future__ import annotations

import pytest

from tests.support import LORA, TINY_ARCHITECTURE


@pytest.fixture(scope="session")
def lora_config() -> dict:
    """The LoRA settings (rank 4 on q_proj and v_proj) of the tests' adapters."""
    return LORA


@pytest.fixture(scope="session")
def tiny_whisper_architecture() -> dict:
    """The WhisperConfig settings of the tiny random Whisper (5 s window, one layer each side)."""
    return TINY_ARCHITECTURE
