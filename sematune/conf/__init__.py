"""Hydra config groups shipped with the package (``pkg://sematune.conf``)."""
