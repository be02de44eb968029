"""The one Jinja environment factory of letters, alerts, reports and Prefect artifacts.

Every environment is strict (``StrictUndefined``: a missing value is an error, never a blank
in a letter, an alert or a report) and loads ``templates/<folder>/``. What genuinely differs
between them is a parameter: HTML autoescape (letters and reports; alerts and markdown
artifacts are plain text, the artifacts escaping each value through their ``md`` filter),
the block whitespace the templates were written for, and the filters they use. Changing one
of those changes rendered bytes, and with letters the template version hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
"""``templates/``: one folder per channel (``letters``, ``alerts``, ``reports``, ``artifacts``)."""


def template_environment(
    folder: str,
    *,
    html: bool,
    trim_blocks: bool = False,
    lstrip_blocks: bool = False,
    keep_trailing_newline: bool,
    filters: Mapping[str, Callable[..., Any]] | None = None,
) -> Environment:
    """A strict Jinja environment for ``templates/<folder>/``.

    Args:
        html: autoescape the templates named ``*.html`` or ``*.html.j2`` (never strings),
            so a name like ``<script>`` prints as text; other templates are not escaped.
        trim_blocks, lstrip_blocks, keep_trailing_newline: Jinja's whitespace options, as
            the folder's templates were written for.
        filters: the folder's own filters (``para``, ``md``, ``duration`` ...).
    """
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES / folder),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False
        )
        if html
        else False,
        trim_blocks=trim_blocks,
        lstrip_blocks=lstrip_blocks,
        keep_trailing_newline=keep_trailing_newline,
    )
    environment.filters.update(filters or {})
    return environment
