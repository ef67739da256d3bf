"""A simulated recommender: per-step candidate slates from a fixed catalogue, and users whose
boredom makes today's recommendation shape tomorrow's clicks.

The simulator follows the idea of RecSim (Ie et al. 2019, "RecSim: A Configurable Simulation
Platform for Recommender Systems"): a recommender is tested against a *model* of users, whose
latent interests and changing state the learner never sees, so that questions a logged data set
cannot answer (does a policy keep users around?) can be asked. As in RecSim's interest-evolution
environment, items carry topic-structured features and a quality, users click with a
probability that grows with their affinity to an item, and a session ends when the user's
patience runs out. Here patience is spent by *boredom* (a fatigue that grows when the items
recommended resemble the ones recommended just before, in the spirit of the diversity and
satiation models of recommender studies), so the item that maximises this step's click chance
is not the best one to show: a myopic bandit that keeps serving the user's favourite topic
drives them away, while a policy that spaces out similar items keeps them for longer. This is
what makes it a test for sequential learners (Q-learning over candidate features, as Pearl's
recommender benchmark does) rather than for contextual bandits only; with ``max_steps=1``
(:class:`RecommenderBanditEnv`) it is the contextual-bandit problem with per-step candidates.

The catalogue (features, quality, popularity) is drawn once from ``problem_seed``, so the
problem is the same across the seeds given to ``reset``, which draw users, slates and clicks.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

_AFFINITY = 4.0  # click logit per unit of cosine between the user's interest and an item
_BIAS = -2.5  # logit of an item of average quality the user is indifferent to
_QUALITY_STD = 0.6  # small enough that knowing the user beats knowing the popular items
_ITEM_NOISE = 0.6  # spread of an item around its topic center (relative to the center's norm)
_USER_NOISE = 0.5
_DRIFT = 0.05  # how far a click moves the user's interest toward the clicked item
_CLICK_TRACE = 0.3  # weight of the newest click in the observed mean of clicked features
_HISTORY = 5  # items a user has clicked before the session: the context a bandit sees
_POPULARITY_USERS = 64  # simulated users whose mean click rate estimates an item's popularity


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm, so that dot products are cosines and features lie in [-1, 1]."""
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class RecommenderEnv(gym.Env[np.ndarray, np.int64]):
    """Recommend one item per step from a slate of ``k`` candidates; 1 per click.

    Dynamics (user state hidden; see the module docstring for why):

    - a user has a unit interest vector ``u`` near one topic center (topics drawn Zipf-like, so
      some topics are popular); clicking item ``x`` moves ``u`` a little toward ``x``;
    - the recommended items leave a fatigue trace ``f <- fatigue_decay * f + x``; an item's
      boredom ``b(x) = clip(f·x * (1 - fatigue_decay), 0, 1)`` is how much it resembles what
      was recommended just before (1 after many near-copies, 0 for an unrelated item);
    - ``P(click x) = sigmoid(4 u·x + quality(x) - 2.5 - fatigue_weight * b(x))``;
    - after each step the user leaves (``terminated``) with probability
      ``leave_base + leave_boredom * b(x)**2``, plus ``leave_no_click`` if they did not click;
    - ``truncated`` after ``max_steps`` steps.

    The observation is float32 in [-1, 1], ``2 * item_dim + 3`` wide: the mean features of the
    user's recent clicks (seeded from ``5`` clicks before the session, the context a bandit
    learns from), the fatigue trace ``f * (1 - fatigue_decay)`` (what was recommended lately),
    the recent click rate, the boredom of the last recommendation and the step fraction.

    ``info`` holds ``"candidates"`` (int64 ``[k]``, the catalogue ids of the slate's slots, the
    slate of the observation returned with it) and ``"action_mask"`` (bool ``[k]``): slates have
    a random size in ``[min_k, k]`` and the padding slots are masked False (id 0); choosing one
    raises ``ValueError``. Steps also report ``"click"`` and ``"boredom"``. The env's
    :attr:`catalogue` (``[n_items, item_dim + 1]``, what nacre's agents score candidates by) is
    each item's :attr:`features` plus a popularity prior (the standardized log-odds of
    :attr:`popularity`, as logged click rates give one); the item's quality stays hidden. A
    slate holds ``k // 4`` items drawn by popularity, ``k // 4`` from topics near the user's
    recent clicks and the rest uniformly, shuffled and without repeats.

    Example:
        >>> env = RecommenderEnv(n_items=1000)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype, info["candidates"].shape, bool(info["action_mask"].all())
        ((35,), dtype('float32'), (20,), True)
        >>> env.catalogue.shape, env.features.shape, env.popularity.shape
        ((1000, 17), (1000, 16), (1000,))
        >>> obs, reward, terminated, truncated, info = env.step(
        ...     most_popular_policy(env, info))
        >>> reward in (0.0, 1.0), info["candidates"].dtype
        (True, dtype('int64'))
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, n_items: int = 10_000, item_dim: int = 16, n_topics: int = 20,
                 k: int = 20, min_k: int | None = None, max_steps: int = 50,
                 problem_seed: int = 0, fatigue_decay: float = 0.7, fatigue_weight: float = 1.0,
                 leave_base: float = 0.01, leave_boredom: float = 0.2,
                 leave_no_click: float = 0.03) -> None:
        min_k = k if min_k is None else min_k
        if not 4 <= k <= n_items or not 1 <= min_k <= k:
            raise ValueError(f"need 4 <= k <= n_items and 1 <= min_k <= k, got k={k}, "
                             f"min_k={min_k}, n_items={n_items}")
        if item_dim < 1 or n_topics < 1 or max_steps < 1 or not 0.0 <= fatigue_decay < 1.0:
            raise ValueError("need item_dim, n_topics, max_steps >= 1 and 0 <= fatigue_decay < 1")
        self.n_items, self.item_dim, self.n_topics = n_items, item_dim, n_topics
        self.k, self.min_k, self.max_steps = k, min_k, max_steps
        self.fatigue_decay, self.fatigue_weight = fatigue_decay, fatigue_weight
        self.leave_base, self.leave_boredom = leave_base, leave_boredom
        self.leave_no_click = leave_no_click
        self._build_catalogue(np.random.default_rng(problem_seed))
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2 * item_dim + 3,), np.float32)
        self.action_space = gym.spaces.Discrete(k)
        self._reset_user_state()

    def _build_catalogue(self, rng: np.random.Generator) -> None:
        d, n = self.item_dim, self.n_items
        self.centers = _unit(rng.standard_normal((self.n_topics, d)))
        # Zipf-like topic sizes and user shares: a few mainstream topics, a long tail
        share = 1.0 / np.arange(1, self.n_topics + 1) ** 0.8
        self.topic_prior = share / share.sum()
        topic = rng.choice(self.n_topics, n, p=self.topic_prior)
        self.item_topic = topic.astype(np.int64)
        # items grouped by topic, so drawing from a topic is O(1) and ids say nothing of topics
        self._by_topic = np.argsort(topic, kind="stable").astype(np.int64)
        self._topic_start = np.searchsorted(topic[self._by_topic],
                                            np.arange(self.n_topics + 1)).astype(np.int64)
        noise = rng.standard_normal((n, d)) * (_ITEM_NOISE / np.sqrt(d))
        catalogue = _unit(self.centers[topic] + noise).astype(np.float32)
        quality = (rng.standard_normal(n) * _QUALITY_STD).astype(np.float32)
        # popularity: the click rate of fresh users from the population, a logged-data proxy
        users = self._draw_interest(rng, _POPULARITY_USERS)
        logits = _AFFINITY * (catalogue @ users.T.astype(np.float32)) + (quality + _BIAS)[:, None]
        popularity = _sigmoid(logits).mean(axis=1).astype(np.float32)
        # what a recommender knows of an item: its features and a prior from logged click
        # rates (quality itself stays hidden), standardized log-odds so it is O(1) like them
        prior = np.log(popularity) - np.log1p(-popularity)
        prior = ((prior - prior.mean()) / (prior.std() + 1e-12)).astype(np.float32)
        self.catalogue = np.concatenate([catalogue, prior[:, None]], axis=1)
        for table in (catalogue, quality, popularity, self.catalogue):
            table.setflags(write=False)
        self.features, self.quality, self.popularity = catalogue, quality, popularity
        # squared: impressions concentrate on the head of the catalogue more than clicks do
        self._popularity_cdf = np.cumsum(popularity.astype(np.float64) ** 2)
        self._popularity_cdf /= self._popularity_cdf[-1]

    def _draw_interest(self, rng: np.random.Generator, count: int) -> np.ndarray:
        topic = rng.choice(self.n_topics, count, p=self.topic_prior)
        noise = rng.standard_normal((count, self.item_dim)) * (_USER_NOISE / np.sqrt(self.item_dim))
        return _unit(self.centers[topic] + noise)

    def _reset_user_state(self) -> None:
        d = self.item_dim
        self.interest = np.zeros(d)
        self.fatigue = np.zeros(d)
        self.clicked_mean = np.zeros(d)
        self.click_rate = 0.0
        self.last_boredom = 0.0
        self.t = 0
        self.candidates = np.zeros(self.k, np.int64)
        self.action_mask = np.ones(self.k, np.bool_)
        self.done = True  # until reset: a step needs a user

    def _near(self, taste: np.ndarray, count: int) -> np.ndarray:
        """``count`` items from topics close to ``taste`` (softmax over the topic centers): the
        user's past at reset, and a history-based retrieval stage for slates, as a production
        candidate generator would run on recent clicks (it never sees ``interest``)."""
        weights = np.exp(4.0 * (self.centers @ taste))
        cdf = np.cumsum(weights)
        topic = np.searchsorted(cdf, self.np_random.random(count) * cdf[-1])
        topic = np.minimum(topic, self.n_topics - 1)
        start, stop = self._topic_start[topic], self._topic_start[topic + 1]
        picks = start + (self.np_random.random(count) * (stop - start)).astype(np.int64)
        # an empty topic has start == stop; fall back to a uniform item
        picks = self._by_topic[np.minimum(picks, self.n_items - 1)]
        return np.where(stop > start, picks, self.np_random.integers(0, self.n_items, count))

    def _draw_slate(self) -> None:
        rng, k = self.np_random, self.k
        size = int(rng.integers(self.min_k, k + 1))
        n_pop = n_near = k // 4
        by_popularity = np.searchsorted(self._popularity_cdf, rng.random(n_pop))
        ids = np.concatenate([np.minimum(by_popularity, self.n_items - 1),
                              self._near(self.clicked_mean, n_near),
                              rng.integers(0, self.n_items, k - n_pop - n_near)])
        for _ in range(8):  # repeats are rare at this size; replace them with uniform draws
            unique, first = np.unique(ids, return_index=True)
            if unique.size == k:
                break
            repeat = np.ones(k, np.bool_)
            repeat[first] = False
            ids[repeat] = rng.integers(0, self.n_items, int(repeat.sum()))
        self.candidates = np.zeros(k, np.int64)
        self.candidates[:size] = rng.permutation(ids)[:size]
        self.action_mask = np.arange(k) < size

    def _info(self) -> dict[str, Any]:
        return {"candidates": self.candidates.copy(), "action_mask": self.action_mask.copy()}

    def _obs(self) -> np.ndarray:
        scalars = [self.click_rate, self.last_boredom, self.t / self.max_steps]
        obs = np.concatenate([self.clicked_mean, self.fatigue * (1.0 - self.fatigue_decay),
                              scalars])
        return np.asarray(np.clip(obs, -1.0, 1.0), np.float32)

    def boredom(self, items: np.ndarray) -> np.ndarray:
        """How much each catalogue item in ``items`` resembles the recent recommendations, in
        [0, 1]: computable from the observation's fatigue trace, so not hidden state."""
        sim = self.features[items] @ self.fatigue * (1.0 - self.fatigue_decay)
        return np.asarray(np.clip(sim, 0.0, 1.0))

    def click_probabilities(self) -> np.ndarray:
        """``[k]`` float64: each slot's click probability now (0 on padding slots). An oracle
        on the hidden user, for myopic baselines and tests; a learner must not call it."""
        x = self.features[self.candidates]
        logits = (_AFFINITY * (x @ self.interest) + self.quality[self.candidates] + _BIAS
                  - self.fatigue_weight * self.boredom(self.candidates))
        return np.where(self.action_mask, _sigmoid(logits), 0.0)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._reset_user_state()
        self.done = False
        rng = self.np_random
        self.interest = _unit(self._draw_interest(rng, 1)[0])
        # past clicks from topics near the user's interest: the context the session opens with
        self.clicked_mean = self.features[self._near(self.interest, _HISTORY)].mean(axis=0)
        self.clicked_mean = self.clicked_mean.astype(np.float64)
        self._draw_slate()
        return self._obs(), self._info()

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool,
                                                    dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be a slot in [0, {self.k}), got {action!r}")
        if self.done:
            raise RuntimeError("the episode has ended (or not begun): call reset()")
        slot = int(action)
        if not self.action_mask[slot]:
            raise ValueError(f"slot {slot} is a padding slot of this slate (action_mask is "
                             f"False there): choose among the {int(self.action_mask.sum())} "
                             "available slots")
        rng, item = self.np_random, int(self.candidates[slot])
        x = self.features[item].astype(np.float64)
        boredom = float(np.clip(x @ self.fatigue * (1.0 - self.fatigue_decay), 0.0, 1.0))
        logit = (_AFFINITY * float(x @ self.interest) + float(self.quality[item]) + _BIAS
                 - self.fatigue_weight * boredom)
        click = bool(rng.random() < 1.0 / (1.0 + np.exp(-logit)))
        leave = self.leave_base + self.leave_boredom * boredom**2
        leave += 0.0 if click else self.leave_no_click
        terminated = bool(rng.random() < leave)
        self.fatigue = self.fatigue_decay * self.fatigue + x
        if click:
            self.interest = _unit(self.interest + _DRIFT * (x - self.interest))
            self.clicked_mean = (1.0 - _CLICK_TRACE) * self.clicked_mean + _CLICK_TRACE * x
        self.click_rate = 0.8 * self.click_rate + 0.2 * float(click)
        self.last_boredom = boredom
        self.t += 1
        terminated = self._ends() or terminated
        truncated = not terminated and self.t >= self.max_steps
        self.done = terminated or truncated
        self._draw_slate()  # the final observation's slate, as the info contract says
        info = self._info() | {"click": click, "boredom": boredom}
        return self._obs(), float(click), terminated, truncated, info

    def _ends(self) -> bool:
        """Whether the episode ends by itself after this step (the bandit version's every
        step); a leaving user ends it in either version."""
        return False


class RecommenderBanditEnv(RecommenderEnv):
    """:class:`RecommenderEnv` as a contextual bandit with per-step candidates (Pearl's
    setting): every step is terminated and the next ``reset`` brings a new user, whose context
    is the observation's mean of their past clicks.

    Example:
        >>> env = RecommenderBanditEnv(n_items=1000)
        >>> obs, info = env.reset(seed=1)
        >>> env.step(random_policy(info, np.random.default_rng(0)))[2]
        True
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"max_steps": 1, **kwargs})

    def _ends(self) -> bool:
        return True


def random_policy(info: dict[str, Any], rng: np.random.Generator) -> int:
    """A uniformly random available slot: the floor any learner must beat."""
    return int(rng.choice(np.flatnonzero(info["action_mask"])))


def most_popular_policy(env: RecommenderEnv, info: dict[str, Any]) -> int:
    """The available slot whose item has the highest :attr:`RecommenderEnv.popularity`: the
    non-personalised baseline a logged click rate gives."""
    scores = np.where(info["action_mask"], env.popularity[info["candidates"]], -np.inf)
    return int(np.argmax(scores))


def myopic_oracle_policy(env: RecommenderEnv, info: dict[str, Any]) -> int:
    """The slot with the highest click probability now, read from the hidden user: the best a
    bandit can do, and what fatigue punishes over a session."""
    return int(np.argmax(env.click_probabilities()))


def fatigue_aware_policy(env: RecommenderEnv, info: dict[str, Any],
                         weight: float = 1.0) -> int:
    """The myopic oracle's click probability less ``weight`` times the item's boredom: giving
    up a little click chance now to keep the user, which a sequential learner can discover."""
    scores = env.click_probabilities() - weight * env.boredom(info["candidates"])
    return int(np.argmax(np.where(info["action_mask"], scores, -np.inf)))


__all__ = ["RecommenderBanditEnv", "RecommenderEnv", "fatigue_aware_policy",
           "most_popular_policy", "myopic_oracle_policy", "random_policy"]
