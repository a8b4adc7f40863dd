"""Error types that map onto the command line's exit codes."""

from __future__ import annotations


class SemaTuneError(Exception):
    """Base class of every error SemaTune raises on purpose."""

    exit_code = 1


class ConfigError(SemaTuneError):
    """A bad configuration value; raised before any host write (exit code 2)."""

    exit_code = 2

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = " ".join(message.split())  # always one line, whatever the cause printed
        super().__init__(f"{key}: {self.message}" if key else self.message)


class HostSafetyError(SemaTuneError):
    """A write was refused or the host could not be restored byte-for-byte."""


class HostLockedError(SemaTuneError):
    """Another SemaTune run holds the host lock."""


class TargetError(SemaTuneError):
    """A target could not prepare or measure; the message says what to install or check."""


class RunInterrupted(BaseException):
    """Raised from a SIGTERM/SIGHUP handler so that ``finally`` blocks restore the host."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")


class TunerError(SemaTuneError):
    """A tuner cannot go on (e.g. its model provider failed too many windows in a row); host restored."""
