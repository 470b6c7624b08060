"""Explain in place: why a model missed what theory promised, or ended far above its floor, and
what to change. Read off one run's own numbers (its losses per epoch, its memory profile, the
floors as its test set shows them, what theory expected); nothing is trained here (`statelab
doctor` tries the changes).

The kinds, in the order they are looked for (the first that fits is the diagnosis):

    diverged        its loss became NaN or infinite                 -> a smaller learning rate
    truncation      the gradient cannot reach the lag the target    -> a longer bptt
                    needs (stateful, bptt too short; known before
                    training, and often the cause of what follows)
    unstable        its training loss jumped to over twice its best -> a smaller learning rate
    at the floor    within the test set's 95% interval of its floor -> more memory, not more training
    under-trained   the loss still falling at the last epoch        -> more epochs
    stuck           the gradient reaches, the loss is flat, and the -> other weights, a smaller
                    profile is wrong                                   learning rate
"""

from __future__ import annotations

import math

from statelab.config import ExperimentConfig
from statelab.metrics import Diagnosis, Memory, ModelMetrics
from statelab.theory import (
    CONVERGED_NMSE,
    IMPOSSIBLE,
    NOT_PROMISED,
    PROMISED,
    Expectation,
    RealisedFloor,
    lag_name,
)

JUMP = 2.0  # a training loss above this many times its best so far is a jump
FALLING = 0.02  # per epoch: a loss still falling faster than this at the end is under-trained
WRONG_PROFILE = 0.5  # a profile error above this: the model leans on the wrong inputs


def smaller_rate(learning_rate: float, factor: float) -> float:
    """learning_rate / factor to three significant digits: a value a command line shows exactly."""
    return float(f"{learning_rate / factor:.3g}")


def wants_diagnosis(m: ModelMetrics, expectation: Expectation, realised: RealisedFloor | None) -> bool:
    """A model is diagnosed when it missed a promised outcome, failed where theory neither promised
    nor ruled it out, or ended far (more than the threshold) above its floor."""
    if m.diverged:
        return True
    if m.converged or expectation.outcome is None:
        return False
    if expectation.outcome in (PROMISED, NOT_PROMISED):
        return True
    far = realised is not None and m.test_nmse is not None
    return bool(far and m.test_nmse > realised.realised + CONVERGED_NMSE)  # type: ignore[operator, union-attr]


def still_falling(losses: list[float]) -> float:
    """How fast the loss fell per epoch over the last fifth of training (at least one epoch):
    the relative drop per epoch, 0 when flat or rising."""
    if len(losses) < 2 or not all(math.isfinite(v) and v > 0 for v in losses):
        return 0.0
    w = max(1, len(losses) // 5)
    before, last = losses[-1 - w], losses[-1]
    return max(0.0, 1.0 - (last / before) ** (1.0 / w))


def jumped(losses: list[float]) -> int | None:
    """The first epoch (from 0) whose training loss exceeds JUMP times its best before, or None."""
    best = math.inf
    for epoch, value in enumerate(losses):
        if math.isfinite(best) and value > JUMP * best:
            return epoch
        best = min(best, value)
    return None


def diagnose(
    config: ExperimentConfig,
    model: str,
    m: ModelMetrics,
    expectation: Expectation,
    train_loss: list[float],
    memory: Memory | None,
    realised: RealisedFloor | None,
) -> Diagnosis | None:
    """The diagnosis of `model` ("stateful" or "stateless") of a run, or None when it needs none."""
    if not wants_diagnosis(m, expectation, realised):
        return None
    lr = config.train.learning_rate
    if m.diverged:
        bad = next((i for i, v in enumerate(train_loss) if not math.isfinite(v)), len(train_loss) - 1)
        return Diagnosis(
            "diverged",
            f"its training loss became NaN or infinite at epoch {bad + 1} of {len(train_loss)}",
            f"train with a smaller learning rate: --learning-rate {smaller_rate(lr, 10):g}",
            {"learning_rate": smaller_rate(lr, 10)},
        )
    need, reach = expectation.needed_lag, expectation.reach
    truncated = need is not None and reach is not None and need > reach
    if model == "stateful" and expectation.outcome == NOT_PROMISED and truncated:
        k = need - config.task.lahead + 2  # type: ignore[operator]
        return Diagnosis(
            "truncation",
            f"at bptt {config.train.bptt} its gradient reaches {lag_name(reach)}; the target needs "  # type: ignore[arg-type]
            f"{lag_name(need)}" + _leaning(memory, need),  # type: ignore[arg-type]
            f"let the gradient reach it: --bptt {k}",
            {"bptt": k},
        )
    jump = jumped(train_loss)
    if jump is not None:
        return Diagnosis(
            "unstable",
            f"its training loss jumped at epoch {jump + 1} to {train_loss[jump]:.3g}, over {JUMP:g} times "
            f"its best before ({min(train_loss[:jump]):.3g})",
            f"train with a smaller learning rate: --learning-rate {smaller_rate(lr, 3):g}",
            {"learning_rate": smaller_rate(lr, 3)},
        )
    nmse = m.test_nmse
    if realised is not None and m.at_floor:
        lo, hi = realised.interval
        fix = (
            f"a window of lahead {need + 1} would hold what the target needs, or a stateful model"
            if model == "stateless" and need is not None and expectation.outcome == IMPOSSIBLE
            else "--layout streams carries each row's history"
            if config.train.layout == "seed" and config.train.batch_size > 1
            else "more training cannot do better on these rows"
        )
        return Diagnosis(
            "at the floor",
            f"NMSE {nmse:.3f} against the realised floor {realised.realised:.3f} of its kind on these rows "
            f"(95% interval for this many rows [{lo:.3f}, {hi:.3f}])",
            fix,
            {},
        )
    falling = still_falling(train_loss)
    if falling > FALLING:
        epochs = config.train.epochs * 3
        return Diagnosis(
            "under-trained",
            f"its training loss was still falling {falling:.1%} per epoch over the last epochs",
            f"train longer: --epochs {epochs}",
            {"epochs": epochs},
        )
    profile = (
        ""
        if memory is None or memory.profile_error is None
        else f", profile error {memory.profile_error:.2f}"
    )
    return Diagnosis(
        "stuck",
        f"its loss is flat ({falling:.1%} per epoch at the end) at NMSE "
        f"{'n/a' if nmse is None else format(nmse, '.3f')}{profile}"
        + (
            f", though its gradient reaches {lag_name(reach)}"
            if model == "stateful" and reach is not None
            else ""
        ),
        f"start from other weights (--model-seed {config.model.model_seed + 1}) or train with a smaller "
        f"learning rate (--learning-rate {smaller_rate(lr, 3):g}); statelab doctor tries both",
        {"model_seed": config.model.model_seed + 1},
    )


def _leaning(memory: Memory | None, lag: int) -> str:
    """', and its prediction leans on x[t-2] by 0.03' when the profile reaches that lag."""
    if memory is None or lag >= len(memory.sensitivity) or memory.sensitivity[lag] is None:
        return ""
    return f", and its prediction leans on {lag_name(lag)} by {memory.sensitivity[lag]:+.2f}"
