"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors: thread hand-offs cost more than they save, badly so on a busy machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def private_trace_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Traced networks (fringenet.models.compiled) go to a folder of this test session, not ~/.cache."""
    import os

    previous = os.environ.get("FRINGENET_CACHE")
    os.environ["FRINGENET_CACHE"] = str(tmp_path_factory.mktemp("trace-cache"))
    yield
    if previous is None:
        os.environ.pop("FRINGENET_CACHE", None)
    else:
        os.environ["FRINGENET_CACHE"] = previous
