"""Hydra config groups shipped with the package (``pkg://sematune.conf``)."""

from sematune.conf.renamed import register as _register_renamed

_register_renamed()
