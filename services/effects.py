"""Re-export of :mod:`db.inbox` until the alert watch and the command line import it there.

The inbox statements moved to ``db/`` (issue 13); ``services/watch.py`` and ``cordwatch/cli.py``
belong to other parts of that change and still import these names from here.
"""

from __future__ import annotations

from db.inbox import (
    REDRIVE_GRACE,
    InboxEntry,
    find_inbox_entries,
    list_unprocessed,
    mark_processed,
)

__all__ = [
    "REDRIVE_GRACE",
    "InboxEntry",
    "find_inbox_entries",
    "list_unprocessed",
    "mark_processed",
]
