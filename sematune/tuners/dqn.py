"""Deep Q-learning (PyTorch) over the same discretised actions as ``qlearning``.

* **State** (normalised to about [0, 1]): every knob's value as the kernel held it
  (``domain.normalise``: log-aware, categoricals by index), the last window's reward relative
  to the baseline window (clipped to [-1, 1]) and the window index over the horizon.
* **Actions**: set one knob to one of its grid values (:class:`~sematune.tuners._grid.ActionGrid`,
  capped by ``max_actions``).
* **Reward**: the window's reward relative to the baseline window (``(r - r0) / |r0|``, sign
  from the objective's goal — no hard-coded scale); a failed window earns the worst seen.
* **Learning**: an MLP Q-network, a replay buffer, a target network synced every
  ``target_sync`` gradient steps, Huber loss, Adam. Gradient steps run inside
  :meth:`suggest_parameters` (so the engine's per-window tuner time includes them).

CPU by default is enough (a few thousand parameters); ``device: auto`` uses CUDA when
present. The network's initialisation, exploration and replay sampling are all seeded.
"""

from __future__ import annotations

from collections import deque
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional

from sematune._imports import optional_import
from sematune.osparams.base import Value
from sematune.tuners._gridtuner import GridTuner
from sematune.tuners.base import Observation
from sematune.validate import integer, is_number, require

DEVICES = ("auto", "cpu", "cuda")


class DQNTuner(GridTuner):
    """ε-greedy DQN with experience replay and a target network."""

    extra = "dqn"
    label = "dqn"

    def __init__(
        self,
        *,
        horizon: int = 30,
        hidden: int = 64,
        learning_rate: float = 1e-3,
        batch_size: int = 32,
        replay_size: int = 1000,
        train_steps: int = 8,
        learn_start: int = 4,
        target_sync: int = 20,
        device: str = "auto",
        threads: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for key, value, low in (("horizon", horizon, 1), ("hidden", hidden, 1), ("batch_size", batch_size, 1),
                                ("replay_size", replay_size, 1), ("train_steps", train_steps, 0),
                                ("learn_start", learn_start, 1), ("target_sync", target_sync, 1),
                                ("threads", threads, 1)):
            integer(f"tuner.{key}", value, low)
        require("tuner.learning_rate", is_number(learning_rate) and learning_rate > 0,
                f"must be > 0, got {learning_rate!r}")
        require("tuner.device", device in DEVICES, f"must be one of {list(DEVICES)}, got {device!r}")
        torch = self.torch = optional_import("torch", "dqn")
        require("tuner.device", device != "cuda" or torch.cuda.is_available(),
                "is cuda but torch sees no CUDA device (use auto or cpu)")
        self.device = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
        self.settings = {
            "horizon": horizon, "hidden": hidden, "learning_rate": float(learning_rate), "batch_size": batch_size,
            "replay_size": replay_size, "train_steps": train_steps, "learn_start": learn_start,
            "target_sync": target_sync, "device": str(self.device), "threads": threads,
        }
        self.threads = threads
        self.horizon = horizon
        self.batch_size = batch_size
        self.train_steps = train_steps
        self.learn_start = learn_start
        self.target_sync = target_sync
        inputs = len(self.space) + 2
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = self._mlp(inputs, hidden, len(self.grid)).to(self.device)
            self.target = self._mlp(inputs, hidden, len(self.grid)).to(self.device)
        self.target.load_state_dict(self.net.state_dict())
        self.target.eval()
        self.optim = torch.optim.Adam(self.net.parameters(), lr=float(learning_rate))
        self.replay: deque[tuple[list[float], int, float, list[float]]] = deque(maxlen=replay_size)
        self._pending: Optional[tuple[list[float], int]] = None
        self._last_scaled = 0.0
        self._iteration = 0
        self._gradient_steps = 0
        self._state_now: list[float] = []

    def _mlp(self, inputs: int, hidden: int, outputs: int) -> Any:
        nn = self.torch.nn
        return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                             nn.Linear(hidden, outputs))

    def _state(self, params: Mapping[str, Value], last_scaled: float, iteration: int) -> list[float]:
        return [*self.grid.unit(params), max(-1.0, min(1.0, last_scaled)), min(1.0, iteration / self.horizon)]

    @contextmanager
    def _threads(self) -> Iterator[None]:
        """Limit torch's intra-op threads while the tuner computes (a tiny net is fastest on one)."""
        previous = self.torch.get_num_threads()
        self.torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            self.torch.set_num_threads(previous)

    def _train(self) -> None:
        if len(self.replay) < self.learn_start:
            return
        torch = self.torch
        for _ in range(self.train_steps):
            batch = [self.replay[self.rng.randrange(len(self.replay))] for _ in range(self.batch_size)]
            s = torch.tensor([b[0] for b in batch], dtype=torch.float32, device=self.device)
            a = torch.tensor([b[1] for b in batch], dtype=torch.int64, device=self.device)
            r = torch.tensor([b[2] for b in batch], dtype=torch.float32, device=self.device)
            s2 = torch.tensor([b[3] for b in batch], dtype=torch.float32, device=self.device)
            with torch.no_grad():
                target = r + self.gamma * self.target(s2).max(dim=1).values
            q = self.net(s).gather(1, a.unsqueeze(1)).squeeze(1)
            loss = torch.nn.functional.smooth_l1_loss(q, target)
            self.optim.zero_grad()
            loss.backward()
            self.optim.step()
            self._gradient_steps += 1
            if self._gradient_steps % self.target_sync == 0:
                self.target.load_state_dict(self.net.state_dict())

    def action_values(self, current_params: Mapping[str, Value], iteration: int) -> list[float]:
        """Train on the replay buffer, then the Q-network's values for the current state."""
        self._iteration = iteration
        self._state_now = self._state(current_params, self._last_scaled, iteration - 1)
        with self._threads():
            self._train()
            with self.torch.no_grad():
                state = self.torch.tensor([self._state_now], dtype=self.torch.float32, device=self.device)
                return self.net(state)[0].tolist()

    def chose(self, action: int) -> None:
        self._pending = (self._state_now, action)

    def _learn(self, observation: Observation) -> None:
        pending, self._pending = self._pending, None
        reward = self.effective_reward(observation)
        if reward is None:
            return
        self._last_scaled = self.scaled(reward)
        if pending is None or observation.phase != "tuning":
            return
        state, action = pending
        nxt = self._state(observation.parameters, self._last_scaled, self._iteration)
        self.replay.append((state, action, self._last_scaled, nxt))
