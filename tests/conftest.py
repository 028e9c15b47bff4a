"""Small, fast settings shared by the tests."""

import pytest
import torch

from equations import create
from pinn_pac.runs import Settings, build_network, physics_loss

torch.set_num_threads(1)


@pytest.fixture
def tiny_settings() -> Settings:
    return Settings(width=8, depth=2, seed=0, n_interior=128, n_condition=32)


@pytest.fixture
def burgers():
    return create("burgers")


@pytest.fixture
def tiny_network(burgers, tiny_settings):
    return build_network(burgers, tiny_settings)


@pytest.fixture
def tiny_loss(burgers, tiny_settings):
    return physics_loss(burgers, tiny_settings)


@pytest.fixture
def as_user_file(tmp_path, monkeypatch):
    """`as_user_file(file_name, text, cls)`: the family's text in a folder of its own, as a user
    keeps it, with commands run from another working directory; gives the FILE:CLASS spec."""
    def write(file_name: str, text: str, cls: str) -> str:
        (tmp_path / "mine").mkdir()
        path = tmp_path / "mine" / file_name
        path.write_text(text)
        (tmp_path / "work").mkdir()
        monkeypatch.chdir(tmp_path / "work")
        return f"{path}:{cls}"
    return write


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs, and nothing catches it."""


@pytest.fixture
def killed_at(monkeypatch):
    """`with killed_at(when): ...` kills the run (raises Killed) as its store saves a piece
    for which when(piece, store) holds: after the piece is written, or before with
    `before=True`; a hook in the job, not a timer."""
    from contextlib import contextmanager

    from pinn_pac.runs.store import RunStore

    save = RunStore.save

    @contextmanager
    def kill(when, before: bool = False):
        def saving(store, piece, payload):
            if before and when(piece, store):
                raise Killed
            save(store, piece, payload)
            if not before and when(piece, store):
                raise Killed

        with monkeypatch.context() as patch:
            patch.setattr(RunStore, "save", saving)
            with pytest.raises(Killed):
                yield

    return kill
