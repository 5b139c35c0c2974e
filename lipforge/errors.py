"""User errors: what the command line reports as one line with exit code 2.

A :class:`UserError` is a mistake the user can fix (a missing file, a bad config key or value, a
used output directory); library code raises it (or ``FileNotFoundError`` / ``ValueError`` with a
message naming the path or field) and ``lipforge.cli`` turns it into ``lipforge <cmd>: <message>``.
Programming errors are not caught: they keep their traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """A mistake of the user's, with a message that names the file, field or value and what to do."""


# The exception types a subcommand's user mistakes arrive as (configuration validation raises
# ValueError naming the field; a missing or unwritable path is an OSError naming it).
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, OSError, ValueError)
