"""User errors: mistakes a user can act on (a bad file, option or model), never our bugs.

Every ``UserError``'s ``str()`` is one line written for the user. Front ends show it as it is
(``drrn: error: ...`` and exit status 1 in the CLI, a message box in the app) and report any other
exception as an internal error. Subclasses keep their historical base (ValueError / OSError) so
existing ``except`` clauses still catch them. Test ``isinstance(exc, UserError)``, never a type
name.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A failure caused by input the user gave; ``str()`` is one user-facing line."""

    def __str__(self) -> str:
        return " ".join(super().__str__().split())


class Terminated(BaseException):  # noqa: N818 (a signal, like KeyboardInterrupt)
    """Raised by the SIGTERM handler of a command so that temporary files are cleaned up as on
    Ctrl-C (a BaseException, so ``except Exception`` does not swallow it)."""


class OutputError(UserError):
    """An output file (results, scores, text) could not be written; one line naming it."""


READ_ERRORS = (UserError, OSError, ValueError)  # what reading a user's file may raise


def one_line(message: object) -> str:
    """Collapse a message to one line (library messages should already be one line)."""
    return " ".join(str(message).split())


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_read_error(exc: BaseException, path: Path | None = None) -> str:
    """One line for a READ_ERRORS exception (about ``path``, which is named once when given)."""
    if isinstance(exc, UserError):
        return str(exc)  # already names the file
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
    return text if path is None else f"{path}: {text}"
