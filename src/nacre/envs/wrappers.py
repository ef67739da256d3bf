"""Gymnasium wrappers that adapt an environment's spaces to a learner.

:class:`DiscreteProduct` turns the several choices of a ``MultiDiscrete`` or ``MultiBinary``
action into one ``Discrete`` action per combination, for learners with one value per action
(DQN and its variants). PPO and REINFORCE need no wrapper: their factored heads (one categorical
per choice) scale with the sum of the choices' sizes, this wrapper with their product.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from nacre.errors import SpaceError
from nacre.spaces import MultiDiscreteActionSpace, from_gym_action_space

# More joint actions than this is a Q head too wide to learn from: use a factored policy.
MAX_PRODUCT = 4096


class DiscreteProduct(gym.ActionWrapper[Any, Any, Any]):
    """``MultiDiscrete(nvec)`` / ``MultiBinary(n)`` actions as ``Discrete(prod(nvec))``: action
    ``a`` is the combination ``numpy.unravel_index(a, nvec)``.

    Example:
        >>> import gymnasium as gym
        >>> import nacre.testing.spaces_envs
        >>> env = DiscreteProduct(gym.make("MultiDiscreteMatch-v0"))
        >>> env.action_space, env.action(5).tolist()
        (Discrete(6), [2, 1])
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        space = env.action_space
        ours = (from_gym_action_space(space)
                if isinstance(space, gym.spaces.MultiDiscrete | gym.spaces.MultiBinary) else None)
        if not isinstance(ours, MultiDiscreteActionSpace):
            raise SpaceError(f"DiscreteProduct needs 1-D MultiDiscrete or MultiBinary actions, "
                             f"got {space}")
        self.nvec = ours.nvec
        size = int(np.prod(self.nvec))
        if size > MAX_PRODUCT:
            raise SpaceError(f"{size} combinations of {self.nvec} are too many for one Q value "
                             f"each (at most {MAX_PRODUCT}): use learner ppo or reinforce, "
                             "whose heads are factored")
        self._dtype = space.dtype
        self.action_space = gym.spaces.Discrete(size)

    def action(self, action: Any) -> np.ndarray:
        choice = np.unravel_index(int(action), self.nvec)
        return np.array(choice).astype(self._dtype)


__all__ = ["MAX_PRODUCT", "DiscreteProduct"]
