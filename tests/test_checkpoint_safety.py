"""Resuming loads checkpoints without unpickling code, and still restores what the trainers save."""

from __future__ import annotations

import pathlib
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from fringenet.errors import InputError
from fringenet.train.trainer import restore_checkpoint, save_checkpoint, warmup_cosine

CPU = torch.device("cpu")


class Touch:
    """Unpickles by calling ``Path.touch(marker)``: stands in for any code a crafted checkpoint runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.marker,))


def parts(seed: int = 0) -> dict[str, Any]:
    """A tiny model with the optimiser, schedule and scaler the trainers build."""
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_cosine(10, 2))
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    return {"model": model, "optimiser": optimiser, "scheduler": scheduler, "scaler": scaler}


def test_crafted_checkpoint_runs_no_code_and_is_a_clear_error(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    last = tmp_path / "checkpoints" / "last.pt"
    last.parent.mkdir()
    torch.save({"model": Touch(marker), "epoch": 1, "epochs": 2}, last)
    with pytest.raises(InputError, match="cannot be loaded safely") as info:
        restore_checkpoint(last, CPU, lambda state: None, model=nn.Linear(3, 2))
    assert not marker.exists()
    assert info.value.source == str(last) and "\n" not in str(info.value)


def test_unreadable_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    last = tmp_path / "last.pt"
    last.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot be loaded safely") as info:
        restore_checkpoint(last, CPU, lambda state: None, model=nn.Linear(3, 2))
    assert info.value.source == str(last)


def test_checkpoint_in_the_trainers_format_round_trips(tmp_path: Path) -> None:
    saved = parts(seed=1)
    model, optimiser, scheduler = saved["model"], saved["optimiser"], saved["scheduler"]
    for _ in range(3):  # non-trivial optimiser moments and schedule position
        optimiser.zero_grad()
        model(torch.randn(4, 3)).square().sum().backward()
        optimiser.step()
        scheduler.step()
    generator = torch.Generator().manual_seed(5)
    history = [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.25, "learning_rate": scheduler.get_last_lr()[0]}]
    best = {"epoch": 1, "iou": 0.75, "threshold": 0.5}
    config = {"patch_size": 64, "simulation": {"noise": [0.1, 0.2], "name": "x"}, "use_coherence": True}
    last = tmp_path / "checkpoints" / "last.pt"
    # the union of what the segmentation, detector, PUNet and temporal trainers put in last.pt
    save_checkpoint(
        {
            "model": model.state_dict(), "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": saved["scaler"].state_dict(),
            "generator": generator.get_state(), "epoch": 3, "epochs": 4, "history": history,
            "best": best, "config": config,
        },
        last,
    )  # fmt: skip

    fresh = parts(seed=2)
    state = restore_checkpoint(last, CPU, lambda state: None, **fresh)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(fresh["model"].state_dict()[name], tensor)
    moments = fresh["optimiser"].state_dict()["state"]
    for key, value in optimiser.state_dict()["state"].items():
        torch.testing.assert_close(moments[key]["exp_avg"], value["exp_avg"])
    assert fresh["scheduler"].last_epoch == scheduler.last_epoch == 3
    assert fresh["scheduler"].get_last_lr() == scheduler.get_last_lr()
    assert (state["epoch"], state["epochs"], state["history"], state["best"]) == (3, 4, history, best)
    assert state["config"] == config
    torch.testing.assert_close(state["generator"], generator.get_state())


def test_a_checkpoint_of_another_run_is_still_refused_by_check(tmp_path: Path) -> None:
    last = tmp_path / "last.pt"
    save_checkpoint({"model": nn.Linear(3, 2).state_dict(), "epochs": 4}, last)
    with pytest.raises(InputError, match="another run"):
        restore_checkpoint(last, CPU, lambda state: "another run", model=nn.Linear(3, 2))
