"""Errors that blurkit raises for user mistakes.

Every user-facing failure is a :class:`BlurkitError`; the CLI prints its message as one line and exits
non-zero. Messages always name the file or entry concerned.
"""

from __future__ import annotations


class BlurkitError(Exception):
    """Base class of every error caused by input, data or configuration (not by a bug)."""


class ImageReadError(BlurkitError):
    """An image file is missing, corrupt, truncated or of an unsupported kind."""


class ImageSizeError(BlurkitError):
    """An image is too small for the requested operation, or a pair has mismatched sizes."""


class ChecksumError(BlurkitError):
    """A file does not match the checksum its manifest records."""


class DatasetMissingError(BlurkitError):
    """A dataset is not on disk; the message says what to download and where to put it."""


class DatasetLayoutError(BlurkitError):
    """A dataset folder exists but does not have the expected layout."""


class UnknownNameError(BlurkitError):
    """An unknown dataset, domain, profile or notebook name."""


class StaleError(BlurkitError):
    """A folder holds the output of other inputs or settings (a dataset made by another model, a run trained on
    other data); resuming it would mix the two."""
