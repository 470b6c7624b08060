"""Names every layer shares, defined once: the two models, the baselines, the history columns and
the per-model numbers that results, stores, frames and reports all key on.

Pure constants: no imports, so the lowest layers may use them.
"""

# The models of every run, in the order of the training program's leading model axis.
MODELS = ("stateful", "stateless")

# Predictors without memory scored on the same test rows as the networks.
BASELINES = ("last_value", "linear_ar")
BASELINE_LABELS = {"last_value": "last value", "linear_ar": "linear AR"}

# One row per model and epoch (history.csv, the store's `history` table, history frames).
HISTORY_COLUMNS = ("model", "epoch", "train_loss", "val_loss", "val_nmse")

# The scalar summary of a memory profile, per model (metrics.json `models.<m>.memory`).
MEMORY_NUMBERS = ("span", "profile_error")
