"""SemaTune's launchers for ``hydra/launcher=submitit_slurm`` and ``hydra/launcher=ray``.

Both wait for every job of a sweep, even when some fail or die, and turn a job that never
answered (its process or node died) into a failed return, so that the sweep still reaches its
end: the dead job's MLflow run is marked FAILED, the report covers every job and the command
exits 1. Hydra requires launcher classes to live under ``hydra_plugins``; they import their
scheduler's client only when a sweep launches.
"""
