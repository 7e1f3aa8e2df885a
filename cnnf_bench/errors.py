"""One exception tree; the CLI maps it to an exit code and a one-line message."""

from __future__ import annotations


class CnnfBenchError(Exception):
    """Base of every error the tool reports to a user as one readable line."""

    exit_code: int = 1


class UsageError(CnnfBenchError):
    """Bad command-line or configuration input (exit code 2, like click's usage errors)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file or value is invalid (unknown key, negative eps, ...)."""


class UnknownNameError(UsageError):
    """A name looked up in a registry does not exist."""


class DataError(CnnfBenchError):
    """A dataset cannot be found or read."""


class CheckpointError(CnnfBenchError):
    """A checkpoint is missing, unreadable, truncated or not one of ours."""


class ResultsError(CnnfBenchError):
    """The results store cannot be read or written."""


class WriteError(CnnfBenchError):
    """An output file or folder cannot be written (read-only place, full disk, a file in the way)."""


class AttackError(CnnfBenchError):
    """An attack produced an invalid result (outside the eps-ball or [0,1], not finite)."""
