"""Shapes and exact arithmetic of the network building blocks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from nacre.networks import (
    MLP,
    DuelingQHead,
    FlattenEncoder,
    NatureCNN,
    OneHotEncoder,
    QNetwork,
    StateActionQHead,
    VanillaQHead,
    make_encoder,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ------------------------------------------------------------------------------------ MLP


@pytest.mark.parametrize(("hidden", "n_linear"), [((), 1), ((8,), 2), ((16, 8, 4), 4)])
def test_mlp_shapes_and_layers(hidden: tuple[int, ...], n_linear: int) -> None:
    mlp = MLP(5, hidden, 3)
    assert mlp(torch.zeros(7, 5)).shape == (7, 3)
    assert mlp(torch.zeros(2, 6, 5)).shape == (2, 6, 3)  # any leading dims
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    assert len(linears) == n_linear
    assert [lin.out_features for lin in linears] == [*hidden, 3]
    assert not isinstance(mlp[-1], nn.ReLU)  # no activation after the last layer
    assert (mlp.in_dim, mlp.out_dim) == (5, 3)


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "gelu", "silu"])
def test_mlp_fast_path_equals_sequential_forward(activation: str) -> None:
    mlp = MLP(6, (32, 16), 4, activation)
    x = torch.randn(11, 6)
    expected = nn.Sequential.forward(mlp, x)
    assert torch.equal(mlp(x), expected)
    # and with parameters changed in place after construction (the fast path must see them)
    with torch.no_grad():
        for p in mlp.parameters():
            p.add_(0.1)
    assert torch.equal(mlp(x), nn.Sequential.forward(mlp, x))


def test_mlp_fast_path_gradients_match_sequential() -> None:
    mlp = MLP(4, (8,), 2, "tanh")
    x = torch.randn(5, 4)
    g1 = torch.autograd.grad(mlp(x).square().sum(), list(mlp.parameters()))
    g2 = torch.autograd.grad(nn.Sequential.forward(mlp, x).square().sum(), list(mlp.parameters()))
    for a, b in zip(g1, g2, strict=True):
        assert torch.equal(a, b)


def test_mlp_fast_path_follows_module_device_moves_and_loading() -> None:
    mlp = MLP(3, (4,), 2)
    other = MLP(3, (4,), 2)
    other.load_state_dict(mlp.state_dict())
    x = torch.randn(2, 3)
    assert torch.equal(other(x), mlp(x))
    double = MLP(3, (4,), 2).double()
    assert double(x.double()).dtype == torch.float64


# ------------------------------------------------------------------------------------ Q heads


def test_vanilla_head_is_the_mlp() -> None:
    head = VanillaQHead(4, 3, (8,), "relu")
    x = torch.randn(6, 4)
    out = head(x)
    assert out.shape == (6, 3) and torch.equal(out, head.mlp(x))


def test_dueling_head_is_value_plus_centred_advantage() -> None:
    head = DuelingQHead(5, 4, (16,), "relu")
    x = torch.randn(7, 5)
    q = head(x)
    v = head.value(x)  # [7, 1]
    a = head.advantage(x)  # [7, 4]
    assert q.shape == (7, 4) and v.shape == (7, 1)
    torch.testing.assert_close(q, v + a - a.mean(dim=1, keepdim=True))
    # the advantages are centred: mean_a Q(s, a) = V(s)
    torch.testing.assert_close(q.mean(dim=1), v.squeeze(1))
    # ... and differ from the raw advantages (the identity is not trivially satisfied)
    assert not torch.allclose(q, a)


def test_state_action_head_with_shared_and_per_row_features() -> None:
    head = StateActionQHead(3, 2, (8,), "tanh")
    feats = torch.randn(4, 3)  # B = 4 states
    actions = torch.randn(5, 2)  # K = 5 actions, shared
    q = head(feats, actions)
    assert q.shape == (4, 5)
    # by hand: Q[b, k] = mlp([φ(s_b), x_k])
    for b in range(4):
        for k in range(5):
            expected = head.mlp(torch.cat([feats[b], actions[k]])[None])[0, 0]
            torch.testing.assert_close(q[b, k], expected)
    # the same features given per row [B, K, d] give the same values
    per_row = actions.unsqueeze(0).expand(4, -1, -1).clone()
    torch.testing.assert_close(head(feats, per_row), q)
    # per-row features that differ between rows give different rows
    per_row[1] = torch.randn(5, 2)
    out = head(feats, per_row)
    torch.testing.assert_close(out[0], q[0])
    assert not torch.allclose(out[1], q[1])


def test_state_action_head_needs_features() -> None:
    with pytest.raises(ValueError, match="action features"):
        StateActionQHead(3, 2, (8,), "relu")(torch.randn(2, 3))


def test_q_network_composes_encoder_and_head() -> None:
    net = QNetwork(FlattenEncoder((2, 3)), VanillaQHead(6, 4, (8,), "relu"))
    obs = torch.randn(5, 2, 3)
    assert net(obs).shape == (5, 4)
    torch.testing.assert_close(net(obs), net.head(obs.reshape(5, 6)))


# ------------------------------------------------------------------------------------ encoders


def test_nature_cnn_on_uint8_frames() -> None:
    cnn = NatureCNN((4, 84, 84))
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    out = cnn(frames)
    assert out.shape == (2, 512) and out.dtype == torch.float32 and cnn.out_dim == 512
    assert bool((out >= 0).all())  # ends with ReLU
    # uint8 frames are scaled to [0, 1]
    torch.testing.assert_close(out, cnn(frames.float() / 255.0))
    # the flattened conv output of an 84x84 frame is 64 x 7 x 7
    assert cnn.fc[0].in_features == 64 * 7 * 7


def test_one_hot_encoder() -> None:
    enc = OneHotEncoder(4)
    out = enc(torch.tensor([2, 0, 3]))
    assert out.dtype == torch.float32 and enc.out_dim == 4
    assert out.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]]
    assert torch.equal(enc(torch.tensor([[1], [2]])), torch.eye(4)[[1, 2]])  # [B, 1] too
    assert "eye" not in enc.state_dict()  # not persisted: a derived buffer


def test_flatten_encoder() -> None:
    enc = FlattenEncoder((2, 3))
    assert enc.out_dim == 6
    x = torch.arange(12).reshape(2, 2, 3)
    assert torch.equal(enc(x), x.reshape(2, 6).float())
    enc1 = FlattenEncoder((5,))
    assert enc1(torch.ones(3, 5, dtype=torch.float64)).dtype == torch.float32


def test_make_encoder_picks_by_space() -> None:
    assert isinstance(make_encoder(gym.spaces.Discrete(5)), OneHotEncoder)
    assert isinstance(make_encoder(gym.spaces.Box(0, 1, (4,))), FlattenEncoder)
    frames = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    assert isinstance(make_encoder(frames), NatureCNN)
    assert isinstance(make_encoder(frames, "flatten"), FlattenEncoder)
