"""``python -m cordwatch``: the same as the ``cordwatch`` command."""

from cordwatch.cli import main

main()
