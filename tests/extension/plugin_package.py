"""A throw-away SemaTune plugin package, written into a temp dir the way a user would write one.

``stplugin`` holds a seed-style target, two seed-style tuners (one with its own ``__init__(config)``,
one with none) and a new knob interface class; ``stplugin/conf`` holds their YAML. It imports only
from ``sematune`` (the package root), as the seed's contract page promises.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

CODE = '''
"""A user's SemaTune plugin: nothing here is part of SemaTune."""
from pathlib import Path

from sematune import BenchmarkInterface, BenchmarkMetrics, OsParam, TunerInterface, TunerResponse


class FileRateTarget(BenchmarkInterface):
    """Reports a throughput that depends on the plugin knob's value (read from the host tree)."""

    def __init__(self, rate: float = 100.0, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def pre_execute(self) -> bool:
        return True

    def execute_window(self, window_number: int, duration: int) -> BenchmarkMetrics:
        assert isinstance(duration, int), duration
        output_dir = self._window_output_dir(window_number)
        level = int(self.space["stplug_level"].read()) if self.space and "stplug_level" in self.space else 0
        (output_dir / "result.txt").write_text(str(self.rate * (1 + level)))
        return self.parse_results(str(output_dir))

    def parse_results(self, output_dir: str) -> BenchmarkMetrics:
        value = float(Path(output_dir, "result.txt").read_text())
        return BenchmarkMetrics(throughput=value, goodput=value, latency_avg=1000.0 / value,
                                latency_p95=2000.0 / value, extra_metrics={"latency_p99": 3000.0 / value})

    def cleanup(self) -> None:
        pass


class StepTuner(TunerInterface):
    """The seed's tuner shape: its own ``__init__(self, config)`` and ``suggest_parameters`` only."""

    def __init__(self, config):
        self.config = config
        self.parameter_ranges = config.parameter_ranges

    def suggest_parameters(self, metrics, current_params, iteration, best_reward=0.0, **kwargs):
        name, spec = sorted(self.parameter_ranges.items())[0]
        value = spec["low"] + (iteration % 3) * (spec["high"] - spec["low"]) // 2
        return TunerResponse(parameters={name: value}, confidence=1.0, justification=f"step {iteration}")


class KeepTuner(TunerInterface):
    """No ``__init__`` at all: keeps the current parameters."""

    def suggest_parameters(self, metrics, current_params, iteration, best_reward=0.0, **kwargs):
        return TunerResponse(parameters=dict(current_params), confidence=1.0, justification="keep")


class PlainFileKnob(OsParam):
    """A new knob interface: one file holding an integer, at ``path``."""

    interface = "plain_file"

    def __init__(self, name, *, path: str, **kwargs):
        self.path = path
        super().__init__(name, **kwargs)

    def files(self):
        return [self.path]
'''

CONFIGS = {
    "target/stplug.yaml": """
        _target_: stplugin.FileRateTarget
        rate: 50.0
    """,
    "tuner/stplug_step.yaml": """
        _target_: stplugin.StepTuner
    """,
    "tuner/stplug_keep.yaml": """
        _target_: stplugin.KeepTuner
    """,
    "osparam/stplug_level.yaml": """
        # @package osparam.stplug_level
        _target_: stplugin.PlainFileKnob
        description: The plugin's own knob.
        path: /proc/sys/stplugin/level
        low: 0
        high: 10
    """,
}

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "sematune-stplugin"
version = "0.0.1"

[project.entry-points."sematune.plugins"]
stplugin = "stplugin.conf"

[tool.setuptools.packages.find]
include = ["stplugin*"]

[tool.setuptools.package-data]
"stplugin.conf" = ["**/*.yaml"]
"""

#: The plugin knob's file in a host tree and its original content.
KNOB_FILE = "proc/sys/stplugin/level"
KNOB_ORIGINAL = b"5\n"


def write_plugin(root: Path) -> Path:
    """Write the project (``pyproject.toml`` + ``stplugin/``) under ``root``; return ``root``."""
    package = root / "stplugin"
    (package / "conf").mkdir(parents=True)
    (package / "__init__.py").write_text(CODE)
    (package / "conf" / "__init__.py").write_text("")
    for rel, text in CONFIGS.items():
        path = package / "conf" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "pyproject.toml").write_text(PYPROJECT.lstrip())
    return root


def write_host_tree(root: Path) -> Path:
    """A ``host_root`` tree holding only the plugin knob's file."""
    path = root / KNOB_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(KNOB_ORIGINAL)
    return root
