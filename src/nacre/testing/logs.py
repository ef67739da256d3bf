"""Logged datasets generated in seconds, for tests and tutorials of offline learning and
off-policy evaluation (no download, no trained agent needed)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from nacre.data.dataset import Dataset, DatasetInfo


def cartpole_controller_log(steps: int, epsilon: float = 0.5, seed: int = 0) -> Dataset:
    """``steps`` CartPole-v1 transitions of the controller "push toward where the pole falls"
    (``θ + ½ θ̇ > 0``: return 500) taking a uniformly random action with probability
    ``epsilon`` (0.5: mean return ≈ 130), each logged with its propensity (``1 − ε/2`` for
    the controller's action, ``ε/2`` for the other). The last episode is cut (truncated)."""
    env, rng = gym.make("CartPole-v1"), np.random.default_rng(seed)
    rows: list[tuple[np.ndarray, int, float, np.ndarray, bool, bool, float]] = []
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        push = int(obs[2] + 0.5 * obs[3] > 0)
        action = push if rng.random() >= epsilon else int(rng.integers(2))
        propensity = 1 - epsilon / 2 if action == push else epsilon / 2
        next_obs, reward, terminated, truncated, _ = env.step(action)
        truncated = truncated or t == steps - 1
        rows.append((obs, action, float(reward), next_obs, terminated, truncated, propensity))
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    cols = [np.asarray(c) for c in zip(*rows, strict=True)]
    info = DatasetInfo(env_id="CartPole-v1", policy=f"pole controller, ε = {epsilon}",
                       ref_min_score=22.0, ref_max_score=500.0, n_actions=2)
    return Dataset.from_arrays(*cols, info=info, seed=seed)


__all__ = ["cartpole_controller_log"]
