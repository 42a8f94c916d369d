"""Forecasting workloads on top of the model: built-in series and the windowing protocol
(:mod:`.datasets`), the forecaster model (:mod:`.models`), training runs and checkpoints
(:mod:`.training`, their settings in :mod:`.run_settings`), inference over a whole dataset and
its cost preview (:mod:`.inference`), the PNG plots of runs (:mod:`.plots`), and noise sweeps:
the experiment file (:mod:`.sweep_file`), its points (:mod:`.sweep_plan`), running them
(:mod:`.sweep_tasks`, :mod:`.sweep_executors`, :mod:`.sweep_run`), the results
(:mod:`.sweep_results`, :mod:`.sweep_plots`) and the dry run's cost (:mod:`.sweep_cost`)."""
