"""Forecasting workloads on top of the model: built-in series and the windowing protocol
(:mod:`.datasets`), forecasters, training runs and checkpoints (:mod:`.training`), inference over
a whole dataset and its cost preview (:mod:`.inference`) and the PNG plots of runs
(:mod:`.plots`)."""
