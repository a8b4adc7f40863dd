"""The confirm and stable phases of :class:`sematune.engine.loop.Engine` (a mixin).

Confirm: the tuner's own pick and the best tuning means are re-measured with the defaults in
interleaved rounds (defaults, c1, c2, …); the best mean is frozen only when it beats the
defaults with the configured confidence — otherwise the defaults are frozen (no harm by
default). Stable: the frozen configuration, with every K-th window at the defaults; if the
defaults pull significantly ahead, the rest of the phase falls back to them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

from sematune.engine.decision import (
    DEFAULTS, FROZEN, Candidate, Decision, arm_estimate, candidate_arm, config_diff, config_key, describe_gain,
    interleaved_blocks, rank_candidates,
)
from sematune.engine.validation import Validated, validate_proposal
from sematune.engine.verdict import growing_harm, seed_for

if TYPE_CHECKING:
    from sematune.engine.loop import Engine

log = logging.getLogger(__name__)

NO_HARM = "SemaTune does no harm by default"


def default_slot(i: int, every: int) -> bool:
    """Whether stable window ``i`` (1-based) runs the defaults: one per block of ``every`` windows,
    last in even blocks and first in odd ones (F F D | D F F | F F D …: drift favours neither arm)."""
    block, position = divmod(i - 1, every)
    return position == (every - 1 if block % 2 == 0 else 0)


class ConfirmAndStable:
    """Phase methods shared into the engine (they use its ``_measure``, settings and records)."""

    # -- confirm ----------------------------------------------------------------------------
    def _tuner_pick(self: "Engine") -> Optional[dict[str, Any]]:
        chosen = self.tuner.best_parameters()
        if chosen is None:
            return None
        validated = validate_proposal(chosen, self.space, self.defaults)
        if validated.rejected:
            log.warning("tuner's final configuration had rejected entries: %s", validated.rejected)
        self.tuner_pick = validated  # its rejections go into the stable records if it is frozen
        return dict(validated.values)

    def _confirm(self: "Engine") -> Decision:
        s = self.settings
        pick = self._tuner_pick()
        if s.confirm_candidates == 0:
            return self._unconfirmed(pick)
        candidates = rank_candidates(self.records, self.defaults, s.confirm_candidates, pick)
        self._shrink_progress(s.confirm_windows() - s.confirm_windows(len(candidates)))
        if not candidates:
            return Decision("defaults", "no candidate differs from the defaults (nothing to confirm)",
                            dict(self.defaults))
        log.info("confirm phase: %d candidate(s) × %d rounds against the defaults", len(candidates),
                 s.confirm_repeats)
        arms = [(DEFAULTS, dict(self.defaults))] + [(candidate_arm(k), dict(c.config))
                                                     for k, c in enumerate(candidates, 1)]
        for round_ in range(s.confirm_repeats):
            # counterbalanced: D c1 c2 | c2 c1 D | …, so a drift over the phase favours no arm
            for arm, config in arms if round_ % 2 == 0 else arms[::-1]:
                self._measure("confirm", Validated(config), arm=arm, block=round_)
        return self._decide(candidates)

    def _decide(self: "Engine", candidates: list[Candidate]) -> Decision:
        goal = self.objective.goal
        conf = 1.0 - (1.0 - self.settings.confidence) / len(candidates)  # Bonferroni over the candidates
        rows, best = [], None
        for k, candidate in enumerate(candidates, 1):
            arm = candidate_arm(k)
            estimate = arm_estimate(self.records, "confirm", arm, goal, conf, self.settings.bootstrap_samples,
                                    self.objective.metric)
            feasible = all(r.feasible for r in self.records if r.phase == "confirm" and r.arm == arm)
            rows.append({
                "arm": arm, "source": candidate.source, "diff": config_diff(candidate.config, self.defaults),
                "tuning_mean": candidate.tuning_mean, "tuning_windows": candidate.tuning_windows,
                "mean": estimate.tuned_mean, "defaults_mean": estimate.defaults_mean, "gain": estimate.gain,
                "ci_low": estimate.ci_low, "ci_high": estimate.ci_high, "n": estimate.n_tuned,
                "n_defaults": estimate.n_defaults, "feasible": feasible,
            })
            if estimate.gain is not None and feasible and (best is None or estimate.gain > best[1].gain):
                best = (k, estimate)
        if best is None:
            return Decision("defaults", f"no candidate could be compared with the defaults; {NO_HARM}",
                            dict(self.defaults), candidates=rows)
        k, estimate = best
        arm = candidate_arm(k)
        if estimate.better:
            return Decision("tuned", f"{arm} beat the defaults by {describe_gain(estimate)} in confirmation",
                            dict(candidates[k - 1].config), arm, rows)
        return Decision("defaults", f"no candidate beat the defaults with {self.settings.confidence:.0%} "
                        f"confidence over {len(candidates)} candidate(s) "
                        f"(best: {arm} {describe_gain(estimate)}); {NO_HARM}",
                        dict(self.defaults), candidates=rows)

    def _unconfirmed(self: "Engine", pick: Optional[dict[str, Any]]) -> Decision:
        config = pick
        if config is None:
            ranked = rank_candidates(self.records, self.defaults, 1)
            config = ranked[0].config if ranked else dict(self.defaults)
        same = config_key(config) == config_key(self.defaults)
        return Decision("defaults" if same else "tuned",
                        "not confirmed (loop.confirm_candidates=0): froze the tuner's pick", config)

    def _shrink_progress(self: "Engine", fewer: int) -> None:
        shrink = getattr(self.progress, "shrink", None)
        if fewer and shrink is not None:
            shrink(fewer)

    # -- stable -----------------------------------------------------------------------------
    def _stable(self: "Engine") -> None:
        s = self.settings
        assert self.decision is not None
        every = s.stable_defaults_every
        planned_defaults = s.stable_windows // every if every else 0
        looks = max(1, planned_defaults - s.fallback_min_defaults + 1)
        watch = self.decision.frozen == "tuned"
        # a stable phase shorter than K still ends with one default window, so it has a verdict
        short = every and 2 <= s.stable_windows < every
        for i in range(1, s.stable_windows + 1):
            block = (i - 1) // every if every else None
            if self.decision.fallback is not None:
                self._measure("stable", Validated(dict(self.defaults)), arm=DEFAULTS, block=block)
            elif every and (short and i == s.stable_windows or not short and default_slot(i, every)):
                self._measure("stable", Validated(dict(self.defaults)), arm=DEFAULTS, block=block)
                if watch and i % every == 0:  # the block is complete
                    self._check_harm(looks)
            else:
                self._measure("stable", self._frozen_validated(), arm=FROZEN, block=block)
                if watch and every and i % every == 0 and (i // every) % 2 == 0:  # a block that began with D
                    self._check_harm(looks)

    def _frozen_validated(self: "Engine") -> Validated:
        """The frozen configuration; when it is the tuner's pick, with what validation rejected of it."""
        pick = self.tuner_pick
        if pick is not None and config_key(pick.values) == config_key(self.frozen):
            return Validated(dict(self.frozen), rejected=pick.rejected, clipped=pick.clipped, proposed=pick.proposed)
        return Validated(dict(self.frozen))

    def _check_harm(self: "Engine", looks: int) -> None:
        assert self.decision is not None
        s = self.settings
        blocks = interleaved_blocks(self.records, "stable", FROZEN, defaults_first=False)
        harm = growing_harm(blocks, self.objective.goal, s.confidence, looks, s.fallback_min_defaults,
                            s.bootstrap_samples, seed_for(self.objective.metric, "harm", len(blocks)))
        if harm is None:
            return
        window = self.records[-1].window
        self.decision.fallback = (f"after window {window}, the interleaved defaults were significantly ahead of "
                                  f"the frozen configuration in the recent stable windows "
                                  f"({describe_gain(harm)}); fell back to the defaults")
        self.decision.frozen = "defaults"
        self.decision.reason += f"; {self.decision.fallback}"
        self.frozen = dict(self.defaults)
        log.warning("stable phase: %s", self.decision.fallback)
