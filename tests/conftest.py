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
