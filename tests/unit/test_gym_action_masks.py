"""Dynamic action sets from Gymnasium envs (nacre.envs.dynamic): masks, Dict-observation masks,
candidates and their features read by GymEnv, SyncEnvs and GymVectorEnv (both autoreset
modes); unavailable actions refused; the DynamicActions wrapper."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import nacre
from nacre.envs import GymEnv, GymVectorEnv
from nacre.envs.base import CatalogueEnv, Env
from nacre.envs.dynamic import (
    ACTION_MASK_KEY,
    CANDIDATE_FEATURES_KEY,
    CANDIDATES_KEY,
    DynamicActions,
)
from nacre.envs.normalize import Normalize, NormalizeConfig
from nacre.errors import ConfigError, InputError, SpaceError
from nacre.spaces import AvailableActions, DiscreteActionSpace, StructuredBox
from nacre.train.evaluate import _stack_available

N = 3  # actions


def allowed(state: int) -> np.ndarray:
    """The mask at ``state``: every action but ``state % N``."""
    mask: np.ndarray = np.arange(N) != state % N
    return mask


class MaskEnv(gym.Env[np.ndarray, int]):
    """A counter: starts in {0, 1, 2}, action a adds a + 1, ends after 3 steps; action
    ``state % 3`` is unavailable (raises). The mask is in the info (or, with ``in_obs``, in a
    Dict observation)."""

    enforce = True

    def __init__(self, in_obs: bool = False) -> None:
        self.in_obs = in_obs
        self.action_space: gym.Space[int] = gym.spaces.Discrete(N)  # type: ignore[assignment]
        box = gym.spaces.Box(0.0, 100.0, (1,), np.float32)
        self.observation_space: gym.Space[Any] = (
            gym.spaces.Dict({"observation": box, ACTION_MASK_KEY: gym.spaces.MultiBinary(N)})
            if in_obs else box)
        self.state = self.t = 0

    def _out(self) -> tuple[Any, dict[str, Any]]:
        obs = np.array([self.state], np.float32)
        mask = allowed(self.state).astype(np.int8)
        if self.in_obs:
            return {"observation": obs, ACTION_MASK_KEY: mask}, {}
        return obs, {ACTION_MASK_KEY: mask}

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.state, self.t = int(self.np_random.integers(3)), 0
        return self._out()

    def step(self, action: int) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.enforce and not allowed(self.state)[action]:
            raise ValueError(f"action {action} unavailable")
        self.state += int(action) + 1
        self.t += 1
        obs, info = self._out()
        return obs, 1.0, self.t == 3, False, info


class CatalogueItemsEnv(MaskEnv):
    """Slots hold catalogue items: 2 candidates (slot 2 is padding) at odd states, 3 else."""

    catalogue = np.arange(20, dtype=np.float32).reshape(10, 2)

    def _out(self) -> tuple[Any, dict[str, Any]]:
        obs, info = super()._out()
        k = 2 if self.state % 2 else 3
        info[CANDIDATES_KEY] = (self.state + np.arange(k)) % 10
        return obs, info


class FeaturesEnv(MaskEnv):
    """Two candidates per step, described by features [2, 4]; no mask."""

    def _out(self) -> tuple[Any, dict[str, Any]]:
        obs, _ = super()._out()
        return obs, {CANDIDATE_FEATURES_KEY: np.full((2, 4), self.state, np.float32)}


def first_available(available: AvailableActions) -> np.ndarray:
    return available.mask.int().argmax(1).numpy()


def run_and_check(env: Env, steps: int = 12) -> int:
    """Steps with available actions, checking mask == allowed(result.obs) throughout; returns
    how often an episode's end had a final mask that differs from the new episode's."""
    obs = env.reset(seed=0)
    assert env.available is not None
    assert np.array_equal(env.available.mask.numpy(), [allowed(int(o[0])) for o in obs])
    differs = 0
    for _ in range(steps):
        result = env.step(first_available(env.available))
        assert result.available is not None and result.available is env.available
        expected = [allowed(int(o[0])) for o in result.obs]
        assert np.array_equal(result.available.mask.numpy(), expected)
        for i in np.flatnonzero(result.terminated):
            differs += not np.array_equal(allowed(int(result.next_obs[i, 0])), expected[i])
    return differs


def test_single_env_reads_masks_after_reset_and_each_step() -> None:
    env = GymEnv(MaskEnv())
    assert run_and_check(env) > 0  # some masks at result.obs are the new episode's


def test_sync_envs_read_masks_per_copy() -> None:
    env = nacre.make_env(MaskEnv, num_envs=3, vectorization="sync")
    assert run_and_check(env) > 0


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
def test_gymnasium_vector_env_masks_in_both_autoreset_modes(mode: AutoresetMode) -> None:
    env = GymVectorEnv(SyncVectorEnv([MaskEnv] * 2, autoreset_mode=mode))
    differs = run_and_check(env, steps=16)
    assert differs > 0 if mode == AutoresetMode.SAME_STEP else differs == 0


def test_next_step_reset_rows_are_not_checked() -> None:
    env = GymVectorEnv(SyncVectorEnv([MaskEnv] * 2, autoreset_mode=AutoresetMode.NEXT_STEP))
    env.reset(seed=0)
    for _ in range(3):
        assert env.available is not None
        result = env.step(first_available(env.available))
    assert result.terminated.all()
    assert env.available is not None
    bad = (~env.available.mask).int().argmax(1).numpy()  # ignored by the resetting copies
    valid = env.step(bad).valid
    assert valid is not None and not valid.any()


@pytest.mark.parametrize("make", [
    lambda: GymEnv(MaskEnv()),
    lambda: nacre.make_env(MaskEnv, num_envs=3, vectorization="sync"),
    lambda: GymVectorEnv(SyncVectorEnv([MaskEnv] * 3, autoreset_mode=AutoresetMode.SAME_STEP)),
])
def test_unavailable_actions_are_refused_naming_action_and_env(make: Any) -> None:
    env = make()
    env.reset(seed=0)
    action = first_available(env.available)
    row = env.num_envs - 1
    action[row] = int(np.flatnonzero(~env.available.mask[row].numpy())[0])
    with pytest.raises(InputError, match=rf"action {action[row]} of env {row} is not available"):
        env.step(torch.as_tensor(action) if env.num_envs == 1 else action)


@pytest.mark.parametrize("make", [
    lambda: GymEnv(MaskEnv(in_obs=True)),
    lambda: nacre.make_env(lambda: MaskEnv(in_obs=True), num_envs=3, vectorization="sync"),
    lambda: GymVectorEnv(SyncVectorEnv([lambda: MaskEnv(in_obs=True)] * 2,
                                       autoreset_mode=AutoresetMode.SAME_STEP)),
    lambda: GymVectorEnv(SyncVectorEnv([lambda: MaskEnv(in_obs=True)] * 2,
                                       autoreset_mode=AutoresetMode.NEXT_STEP)),
])
def test_dict_observation_masks_leave_the_observation(make: Any) -> None:
    env = make()
    space = env.observation_space
    assert isinstance(space, StructuredBox) and space.shape == (1,)
    assert ACTION_MASK_KEY not in space.source.spaces
    run_and_check(env)


def test_candidates_from_a_catalogue() -> None:
    assert isinstance(CatalogueItemsEnv(), CatalogueEnv)
    for env in (GymEnv(CatalogueItemsEnv()),
                nacre.make_env(CatalogueItemsEnv, num_envs=3, vectorization="sync")):
        space = env.action_space
        assert isinstance(space, DiscreteActionSpace) and space.n == N
        assert space.catalogue is not None and space.catalogue.shape == (10, 2)
        obs = env.reset(seed=1)
        for _ in range(4):
            available = env.available
            assert available is not None and available.items is not None
            states = obs[:, 0].astype(int)
            for i, s in enumerate(states):
                k = 2 if s % 2 else 3
                assert available.items[i, :k].tolist() == ((s + np.arange(k)) % 10).tolist()
                assert available.mask[i].tolist() == (allowed(s) & (np.arange(N) < k)).tolist()
            features = available.features_in(space)
            assert features is not None and features.shape == (len(states), N, 2)
            assert torch.equal(features[0, 0], space.catalogue[int(available.items[0, 0])])
            obs = env.step(first_available(available)).obs


class ThreeItemsEnv(CatalogueItemsEnv):
    """Always 3 candidates (a vector env gathers infos of one shape); copy 1 reports none."""

    def __init__(self, quiet: bool = False) -> None:
        super().__init__()
        self.quiet, self.enforce = quiet, not quiet

    def _out(self) -> tuple[Any, dict[str, Any]]:
        obs, info = MaskEnv._out(self)
        return obs, {} if self.quiet else {**info, CANDIDATES_KEY: np.array([9, 0, 1])}


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
def test_vector_env_candidates_and_copies_that_report_nothing(mode: AutoresetMode) -> None:
    env = GymVectorEnv(SyncVectorEnv([ThreeItemsEnv, lambda: ThreeItemsEnv(quiet=True)],
                                     autoreset_mode=mode))
    assert env.action_space.catalogue is not None  # type: ignore[union-attr]
    obs = env.reset(seed=0)
    for _ in range(5):
        available = env.available
        assert available is not None and available.items is not None
        assert available.items[0].tolist() == [9, 0, 1]
        assert available.mask[0].tolist() == allowed(int(obs[0, 0])).tolist()
        assert available.mask[1].all()  # nothing reported: every action
        obs = env.step(first_available(available)).obs


def test_subprocess_copies_declare_their_catalogue() -> None:
    env = nacre.make_env(ThreeItemsEnv, num_envs=2, vectorization="async")
    try:
        space = env.action_space
        assert isinstance(space, DiscreteActionSpace) and space.catalogue is not None
        assert torch.equal(space.catalogue, torch.from_numpy(ThreeItemsEnv.catalogue))
        env.reset(seed=0)
        assert env.available is not None and env.available.items is not None
        assert env.available.items.tolist() == [[9, 0, 1]] * 2
    finally:
        env.close()
    plain = nacre.make_env(MaskEnv, num_envs=2, vectorization="async")
    try:
        assert plain.action_space.catalogue is None  # type: ignore[union-attr]
        assert run_and_check(plain, steps=4) >= 0
    finally:
        plain.close()


def test_candidate_features_pad_and_mask() -> None:
    env = nacre.make_env(FeaturesEnv, num_envs=2, vectorization="sync")
    obs = env.reset(seed=0)
    available = env.available
    assert available is not None and available.items is None and available.features is not None
    assert available.features.shape == (2, N, 4) and available.features.dtype == torch.float32
    assert available.mask.tolist() == [[True, True, False]] * 2
    assert available.features[:, 0, 0].tolist() == obs[:, 0].tolist()
    assert (available.features[:, 2] == 0).all()  # padding


def test_candidates_without_a_catalogue_are_refused() -> None:
    class NoCatalogue(MaskEnv):
        def _out(self) -> tuple[Any, dict[str, Any]]:
            obs, info = super()._out()
            return obs, {**info, CANDIDATES_KEY: np.arange(N)}

    with pytest.raises(InputError, match="declares no catalogue"):
        GymEnv(NoCatalogue()).reset(seed=0)


def test_envs_that_report_nothing_stay_unrestricted() -> None:
    env = nacre.make_env("CartPole-v1", num_envs=2, vectorization="sync")
    env.reset(seed=0)
    assert env.available is None
    assert env.step(np.zeros(2, np.int64)).available is None


def test_normalize_and_fault_recovery_keep_availability() -> None:
    env = Normalize(GymEnv(MaskEnv()), NormalizeConfig(obs=True))
    env.reset(seed=0)
    assert env.available is not None
    assert env.step(first_available(env.available)).available is not None

    class Flaky(MaskEnv):
        def step(self, action: int) -> tuple[Any, float, bool, bool, dict[str, Any]]:
            if self.t == 1:
                raise RuntimeError("boom")
            return super().step(action)

    faulty = nacre.make_env(Flaky, num_envs=2, vectorization="sync", max_faults=3)
    faulty.reset(seed=0)
    for _ in range(2):
        result = faulty.step(first_available(faulty.available))  # type: ignore[arg-type]
    assert result.faults and result.truncated.all()
    assert result.available is not None  # the new copies' first masks
    assert np.array_equal(result.available.mask.numpy(),
                          [allowed(int(o[0])) for o in result.obs])


def test_stack_available_carries_features_and_items() -> None:
    mask = torch.tensor([[True, False, True]])
    parts = [AvailableActions(mask, torch.ones(1, 3, 2), torch.tensor([[1, 2, 3]])),
             AvailableActions(~mask, torch.zeros(1, 3, 2), torch.tensor([[4, 5, 6]]))]
    stacked = _stack_available(list(parts))
    assert stacked is not None and stacked.features is not None and stacked.items is not None
    assert stacked.mask.tolist() == [[True, False, True], [False, True, False]]
    assert stacked.features.shape == (2, 3, 2) and stacked.items[1].tolist() == [4, 5, 6]
    plain = _stack_available([None, AvailableActions(mask)])
    assert plain is not None and plain.mask.tolist() == [[True] * 3, [True, False, True]]
    with pytest.raises(ValueError, match="features"):
        _stack_available([parts[0], AvailableActions(mask)])


def masks_of(env: gym.Env[Any, Any], seed: int, steps: int) -> list[list[bool]]:
    _, info = env.reset(seed=seed)
    masks = [info[ACTION_MASK_KEY].tolist()]
    for _ in range(steps):
        action = int(np.flatnonzero(masks[-1])[0])
        _, _, terminated, truncated, info = env.step(action)
        masks.append(info[ACTION_MASK_KEY].tolist())
        if terminated or truncated:
            break
    return masks


def test_dynamic_actions_is_deterministic_given_the_reset_seed() -> None:
    runs = [masks_of(DynamicActions(gym.make("CartPole-v1"), 0.5), 7, 20) for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0] != masks_of(DynamicActions(gym.make("CartPole-v1"), 0.5), 8, 20)
    seeded = [masks_of(DynamicActions(gym.make("CartPole-v1"), 0.5, seed=1), 7, 20)
              for _ in range(2)]
    assert seeded[0] == seeded[1] != runs[0]


def test_dynamic_actions_keeps_one_available_and_raises_on_unavailable() -> None:
    env = DynamicActions(gym.make("CartPole-v1"), available_prob=1e-9, seed=0)
    _, info = env.reset(seed=0)
    for _ in range(3):
        mask = info[ACTION_MASK_KEY]
        assert mask.sum() == 1
        with pytest.raises(ValueError, match="not available"):
            env.step(int(np.flatnonzero(~mask)[0]))
        _, _, _, _, info = env.step(int(np.flatnonzero(mask)[0]))
    with pytest.raises(ConfigError):
        DynamicActions(MaskEnv(), available_prob=0.0)
    with pytest.raises(SpaceError):
        DynamicActions(gym.make("Pendulum-v1"))


def test_registered_dynamic_id_through_make_env() -> None:
    env = nacre.make_env("nacre/CartPole-Dynamic-v0", num_envs=2, vectorization="sync")
    env.reset(seed=0)
    assert env.available is not None and env.available.mask.shape == (2, 2)
    for _ in range(30):
        result = env.step(first_available(env.available))
        assert result.available is not None and result.available.mask.any(1).all()


class _LastInfo(gym.Wrapper):  # type: ignore[type-arg]
    """Keeps the info of the last step (before any automatic reset)."""

    def step(self, action: Any) -> Any:
        out = self.env.step(action)
        self.last = out[-1]
        return out


@pytest.mark.parametrize("num_envs, kind", [(1, "single"), (2, "sync"), (2, "gym")])
def test_a_finished_episode_reports_the_set_at_its_final_observation(num_envs: int,
                                                                     kind: str) -> None:
    from nacre.envs.recsys import RecommenderEnv

    spies: list[_LastInfo] = []

    def make() -> gym.Env[Any, Any]:
        spies.append(_LastInfo(RecommenderEnv(n_items=500, max_steps=2, leave_base=0.0,
                                              leave_boredom=0.0, leave_no_click=0.0)))
        return spies[-1]

    env: Env = (GymVectorEnv(SyncVectorEnv([make, make],
                                            autoreset_mode=AutoresetMode.SAME_STEP))
                if kind == "gym" else nacre.make_env(make, num_envs=num_envs,
                                                     vectorization="auto" if kind == "single"
                                                     else "sync"))
    env.reset(seed=0)
    result = env.step(np.zeros(num_envs, np.int64))
    assert result.final_available is None  # nothing ended
    result = env.step(np.zeros(num_envs, np.int64))
    assert bool(result.truncated.all()) and result.final_available is not None
    final_items = result.final_available.items
    assert final_items is not None and result.available is not None
    for i, spy in enumerate(spies):
        assert final_items[i].tolist() == spy.last["candidates"].tolist()
    assert not torch.equal(final_items, result.available.items)  # the next user's slate
