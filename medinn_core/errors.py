"""The one exception hierarchy of medinn.

The app and the CLI catch :class:`MedinnError` and show its message to the user; any other
exception is a bug and is logged with its traceback. Every message names the file or column,
what was expected, what was found, and how to fix it.
"""

from __future__ import annotations


class MedinnError(Exception):
    """Base class of every error a user can fix (bad input, bad model, bad settings)."""


class DataError(MedinnError):
    """A data file cannot be read or holds values that cannot be used."""


class SchemaError(MedinnError):
    """A schema is invalid, or data does not match the schema it is checked against."""


class ConfigError(MedinnError):
    """A setting (training configuration, threshold, CLI option) is out of range."""


class ModelError(MedinnError):
    """A model cannot be trained, used or found (for example, used before it was fitted)."""


class BundleError(ModelError):
    """A saved model bundle is missing, corrupt, tampered with or unsafe to load."""


#: Longest value a message quotes: a 30 MB cell must not become a 30 MB error line.
MAX_QUOTED = 60


def quoted(value: object, limit: int = MAX_QUOTED) -> str:
    """A value as a message quotes it (``repr`` of text), its first ``limit`` characters
    only: ``'abcd'… (70,000 characters)``."""
    text = str(value)
    shown = repr(text[:limit]) if isinstance(value, str) else text[:limit]
    return shown if len(text) <= limit else f"{shown}… ({len(text):,} characters)"


def list_examples(items: list, limit: int = 5) -> str:
    """Format at most ``limit`` offenders for a message: ``'a', 'b', 'c' and 2 more``."""
    shown = ", ".join(quoted(item) for item in items[:limit])
    extra = len(items) - limit
    return f"{shown} and {extra} more" if extra > 0 else shown
