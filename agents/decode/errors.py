"""The decode stage's one error for bad input."""

from __future__ import annotations


class MediaError(ValueError):
    """Permanent bad input (or a source that cannot be read): the job fails with this message
    as its reason."""
