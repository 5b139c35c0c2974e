"""What may be opened as a source: a regular file this process may read, checked before any open.

Opening a FIFO blocks until a writer comes (a run would hang for good), a device may be anything,
a directory named like a video is not one. So every path that opens a source (the probe, the
part planner, the decoders the segmenter and the report use) asks :func:`source_file_problem`
first: it only ``stat``s the path and checks read permission, and names what is wrong with a
reason code the probe records:

=====================  ==========================================================================
``not_found``          nothing at the path (or a path that cannot exist: too long, a loop)
``not_a_file``         a FIFO, socket, device or directory (followed through symlinks)
``permission_denied``  a regular file this process may not read
=====================  ==========================================================================

>>> source_file_problem("/nonexistent/a.mp4")
'not_found'
>>> source_file_problem("/")
'not_a_file'
"""
from __future__ import annotations

import os
import stat

NOT_FOUND, NOT_A_FILE, PERMISSION_DENIED = "not_found", "not_a_file", "permission_denied"


def source_file_problem(path: str | os.PathLike) -> str | None:
    """None when ``path`` is a regular file this process may read; else its reason code."""
    try:
        st = os.stat(path)  # follows symlinks, never opens
    except PermissionError:
        return PERMISSION_DENIED  # a folder on the way may not be searched
    except (OSError, ValueError):
        return NOT_FOUND
    if not stat.S_ISREG(st.st_mode):
        return NOT_A_FILE
    if not os.access(path, os.R_OK):
        return PERMISSION_DENIED
    return None
