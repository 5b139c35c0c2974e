"""Which exceptions of inference are the user's input, not a bug: a batch writes them as the job's
one-line error row, as ``lipforge infer`` ends them as one line and exit code 2. It sits below the
batch driver and the CLI module, so neither imports the other for it."""
from __future__ import annotations


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's input, not a bug: they end as one line and exit code 2."""
    from lipforge.infer.faceprep import NoFaceError
    from lipforge.pipeline.media import MediaDecodeError

    return (FileNotFoundError, NotADirectoryError, ValueError, MediaDecodeError, NoFaceError)
