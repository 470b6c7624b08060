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

# Epochs as data (on_epoch's argument, history frames, history.csv, the store, the lab's events)
# count from 0, as Keras passes them to `on_epoch_end` and numbers them in History and CSVLogger.
# Text for people counts from 1 ("epoch 1/10"), as Keras prints it. Older files count from 1
# (metrics.json schema 3 and before, stores without `epochs_from` in their meta): their readers
# convert.
FIRST_EPOCH = 0

# The scalar summary of a memory profile, per model (metrics.json `models.<m>.memory`).
MEMORY_NUMBERS = ("span", "profile_error")
