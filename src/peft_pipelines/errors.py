"""The family of errors that are the user's to fix: shown as one line and exit status 2, never a traceback.

Data, configuration, a missing or broken model, a file the project owns that
is corrupt: the message says which file or setting and what to do. Every
other exception is a bug of ours and keeps its traceback. This module imports
nothing of ours, so every layer can raise these.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's data, configuration or installation; its message is what is shown.

    One line, naming files by their path; a :class:`ConfigurationError` may
    hold several, one per problem, so that all are said at once.

    Subclass it (with the builtin it refines, e.g. ``class X(UserError, ValueError)``)
    rather than raising it bare, so callers that catch the builtin keep working.
    """

    exit_code = 2


class ConfigurationError(UserError, ValueError):
    """Parameters or catalog entries that cannot work (each problem one line of the message)."""


def first_line(error: BaseException) -> str:
    """What a one-line message shows of ``error``: its message's first line, or its type's name if it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
