"""Fixtures the runtime's tests share."""

from contextlib import contextmanager

import pytest

from nncompile.runtime import checkpoint


@pytest.fixture
def interrupted_after_checkpoint(monkeypatch):
    """`with interrupted_after_checkpoint(stop_at): …` runs a command that is stopped (as by
    Ctrl-C) right after it writes last.pt in its second epoch: at the epoch's start
    (stop_at "epoch end", the first epoch's end) or at a later step ("mid-epoch")."""
    @contextmanager
    def interrupted(stop_at: str):
        save = checkpoint.save

        def save_then_stop(path, state):
            save(path, state)
            if path.name == "last.pt" and state["epoch"] == 1 and (state["step"] == 0) == (stop_at == "epoch end"):
                raise KeyboardInterrupt

        monkeypatch.setattr(checkpoint, "save", save_then_stop)
        try:
            yield
        finally:
            monkeypatch.setattr(checkpoint, "save", save)
    return interrupted
