"""Forecasting workloads on top of the model: built-in series and the windowing protocol
(:mod:`.datasets`), the forecaster model (:mod:`.models`), training runs and checkpoints
(:mod:`.training`), inference over
a whole dataset and its cost preview (:mod:`.inference`) and the PNG plots of runs
(:mod:`.plots`)."""
