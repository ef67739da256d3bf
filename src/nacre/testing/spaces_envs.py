"""Tiny environments with the spaces users bring: Dict and Tuple observations, MultiDiscrete and
MultiBinary actions, image observations. Each rewards acting on what it shows, so a learner that
reads the space correctly reaches the maximum return (8) in a few thousand steps, while uniform
random actions stay well below it.

Importing this module registers them with Gymnasium, so a YAML config can name them as
``nacre.testing.spaces_envs:DictCue-v0`` (Gymnasium's ``module:Id`` form).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

EPISODE = 8  # steps per episode: the best return is 8


class _Cued(gym.Env[Any, Any]):
    """A new cue every step; the reward says how well the action matched it."""

    def __init__(self) -> None:
        self._t = 0
        self._cue: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        self._cue = self._draw()
        return self._observe(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        reward = self._reward(action)
        self._t += 1
        self._cue = self._draw()
        return self._observe(), reward, False, self._t >= EPISODE, {}

    def _draw(self) -> Any:
        raise NotImplementedError

    def _observe(self) -> Any:
        raise NotImplementedError

    def _reward(self, action: Any) -> float:
        raise NotImplementedError


class DictCue(_Cued):
    """``{"cue": Discrete(3), "noise": Box(2)}`` observations; reward 1 for ``action == cue``
    (random actions: 8/3 per episode)."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Dict(
            {"cue": gym.spaces.Discrete(3), "noise": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)})
        self.action_space = gym.spaces.Discrete(3)

    def _draw(self) -> Any:
        return int(self.np_random.integers(3))

    def _observe(self) -> Any:
        noise = self.np_random.uniform(-1.0, 1.0, 2).astype(np.float32)
        return {"cue": self._cue, "noise": noise}

    def _reward(self, action: Any) -> float:
        return float(int(action) == self._cue)


class TupleCue(DictCue):
    """:class:`DictCue` with ``Tuple(Discrete(3), Box(2))`` observations."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Tuple(
            (gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (2,), np.float32)))

    def _observe(self) -> Any:
        d = super()._observe()
        return (d["cue"], d["noise"])


class MultiDiscreteMatch(_Cued):
    """Observations show a target for each of two choices (one-hot, 3 + 2 values); actions
    ``MultiDiscrete([3, 2])``; reward 0.5 per choice matched (random actions: 3.3 per
    episode)."""

    nvec = (3, 2)

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Box(0.0, 1.0, (sum(self.nvec),), np.float32)
        self.action_space = gym.spaces.MultiDiscrete(list(self.nvec))

    def _draw(self) -> Any:
        return np.array([self.np_random.integers(n) for n in self.nvec])

    def _observe(self) -> Any:
        return np.concatenate([np.eye(n, dtype=np.float32)[c]
                               for n, c in zip(self.nvec, self._cue, strict=True)])

    def _reward(self, action: Any) -> float:
        return 0.5 * float(np.sum(np.asarray(action) == self._cue))


class MultiBinaryMatch(_Cued):
    """Observations are 4 bits; actions ``MultiBinary(4)``; reward 0.25 per bit copied (random
    actions: 4 per episode)."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.MultiBinary(4)

    def _draw(self) -> Any:
        return self.np_random.integers(0, 2, 4)

    def _observe(self) -> Any:
        return self._cue.astype(np.float32)

    def _reward(self, action: Any) -> float:
        return 0.25 * float(np.sum(np.asarray(action) == self._cue))


class ImageCue(_Cued):
    """10 × 10 single-channel uint8 frames (``[H, W, C]``, as Gymnasium image envs give them)
    with a bright 3 × 3 patch in the left or right half; reward 1 for naming the side (random
    actions: 4 per episode)."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Box(0, 255, (10, 10, 1), np.uint8)
        self.action_space = gym.spaces.Discrete(2)

    def _draw(self) -> Any:
        return int(self.np_random.integers(2))

    def _observe(self) -> Any:
        frame = np.zeros((10, 10, 1), np.uint8)
        row = int(self.np_random.integers(0, 8))
        col = int(self.np_random.integers(0, 3)) + 5 * self._cue
        frame[row:row + 3, col:col + 3] = 255
        return frame

    def _reward(self, action: Any) -> float:
        return float(int(action) == self._cue)


for _env in (DictCue, TupleCue, MultiDiscreteMatch, MultiBinaryMatch, ImageCue):
    if f"{_env.__name__}-v0" not in gym.registry:
        gym.register(f"{_env.__name__}-v0", entry_point=f"{__name__}:{_env.__name__}")

__all__ = ["EPISODE", "DictCue", "ImageCue", "MultiBinaryMatch", "MultiDiscreteMatch",
           "TupleCue"]
