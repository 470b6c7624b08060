"""One line of help per config field, with its default(s): the text of `--help`, the lab's form and
the README's tables. A task parameter's line comes from its task record."""

from __future__ import annotations

from typing import Any

from statelab import tasks
from statelab.config import FIELD_SECTION, ExperimentConfig

# One line of help per config field that is not a task parameter (those come from the task records).
FIELD_HELP = {
    "lahead": "inputs the network sees per sample",
    "train_fraction": "leading fraction of each series used for training",
    "cell": "recurrent cell: lstm, gru or simple",
    "units": "units per recurrent layer",
    "layers": "stacked recurrent layers",
    "model_seed": "seed of the weight initialisation (both models start from the same weights)",
    "batch_size": "rows per batch",
    "epochs": "passes over the training series",
    "learning_rate": "Adam learning rate (Keras default 1e-3)",
    "layout": "stateful batch layout: streams (contiguous streams) or seed (the original's)",
    "window_order": "order of each input window: oldest-first or newest-first (the original's)",
    "test_start": "stateful test from a reset state, or continuing the training state",
    "bptt": "stateful: truncation length; each batch's loss reaches back through the bptt - 1 batches "
    "before it (1: the original)",
    "val_fraction": "the tail of each series' training part the validation loss is measured on, in "
    "[0, 1); 0: the test rows, as the original (default: 0.2 for a real series, 0 for a synthetic task)",
    "early_stopping": "stop once the validation loss has not improved for this many epochs, keeping "
    "each model's best epoch (needs val_fraction > 0)",
}


def field_help(name: str) -> str:
    """The one line of help of a config field, with its default(s): the text of --help and the lab."""
    if name == "task":
        choices = "; ".join(f"{t.name} ({t.summary})" for t in tasks.TASKS.values())
        return f"one of: {choices} (default: {tasks.REFERENCE_TASK})"
    if name not in tasks.PARAMS:
        default = ExperimentConfig().to_dict()[FIELD_SECTION[name]][name]
        if default is None:  # its help says what it defaults to, or that it is off
            return FIELD_HELP[name]
        return FIELD_HELP[name] + f" (default: {default})"
    defaults = {t.name: p.default for t in tasks.TASKS.values() if (p := t.param(name)) is not None}
    shown = {_show(v) for v in defaults.values() if v is not None}
    if not shown:
        return tasks.PARAMS[name].help
    if len(shown) == 1:
        return tasks.PARAMS[name].help + f" (default: {shown.pop()})"
    per_task = ", ".join(f"{t} {_show(v)}" for t, v in defaults.items() if v is not None)
    return tasks.PARAMS[name].help + f" (default: {per_task})"


def _show(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
