"""Administrator commands: `cordwatch ruleset what-if` and `cordwatch ruleset adopt` (spec 9.6)."""

from __future__ import annotations

import html
import json
import unicodedata
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cordwatch.cli_common import AsOf, JsonFlag, migrated_engine, moment_or_now, out, parse_day
from db.engine import reading
from db.private import write_private
from pathway.errors import RulesetError
from pathway.ruleset import Ruleset, load_ruleset
from pathway.whatif import WhatIf
from services.settings import get_settings

ruleset_app = typer.Typer(
    help="See what a ruleset version would change, and adopt it for open pathways.",
    no_args_is_help=True,
)


Version = Annotated[int, typer.Option("--version", help="The candidate ruleset version.")]


def _candidate(version: int) -> Ruleset:
    try:
        return load_ruleset(get_settings().ruleset, version)
    except RulesetError as error:
        raise typer.BadParameter(str(error), param_hint="--version") from error


def free_text(value: str, option: str) -> str:
    """Text typed by an administrator for the audit trail: not blank, no control characters."""
    if not value.strip():
        raise typer.BadParameter("must not be blank", param_hint=option)
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise typer.BadParameter("must not contain control characters", param_hint=option)
    return value.strip()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def what_if_text(result: WhatIf) -> list[Table | str]:
    """The what-if replay as readable tables (pathways by ``PW-`` id only)."""
    parts: list[Table | str] = [
        f"What-if {result.candidate}: {result.pathways} pathways referred "
        f"{result.period_start} to {result.period_end}, as of {result.as_of.isoformat()} "
        f"(pinned now: " + ", ".join(f"{k} {v}" for k, v in result.pinned_versions.items()) + ")"
    ]
    changes = Table(title=f"Clocks whose status would change ({len(result.changes)})")
    for name in ("pathway", "clock", "pinned", "candidate"):
        changes.add_column(name)
    for c in result.changes:
        changes.add_row(c.pathway_id, c.clock_id, c.pinned or "(none)", c.candidate or "(none)")
    parts.append(changes)
    refused = Table(title=f"Events that would be refused ({len(result.refused)})")
    for name in ("pathway", "event type", "field", "reason"):
        refused.add_column(name)
    for r in result.refused:
        refused.add_row(r.pathway_id, r.event_type, r.field, r.reason)
    parts.append(refused)
    owed = Table(title="Alerts and letters owed under one version only")
    for name in ("owed", "kind", "only under pinned", "only under candidate"):
        owed.add_column(name)
    for kind, a, b in (
        ("alert", result.only_pinned.alerts, result.only_candidate.alerts),
        ("letter", result.only_pinned.letters, result.only_candidate.letters),
    ):
        for label in sorted(a.keys() | b.keys()):
            owed.add_row(kind, label, str(a.get(label, 0)), str(b.get(label, 0)))
    parts.append(owed)
    figures = Table(title="Headline figures (as `cordwatch report` computes them)")
    for name in ("measure", "title", "pinned", "candidate"):
        figures.add_column(name)
    for h in result.headline:
        figures.add_row(
            h.id,
            h.title,
            f"{_percent(h.pinned)} ({h.pinned_of[0]}/{h.pinned_of[1]})",
            f"{_percent(h.candidate)} ({h.candidate_of[0]}/{h.candidate_of[1]})",
        )
    parts.append(figures)
    if result.local_sla_dropped:
        parts.append(
            "Local SLA values the candidate does not allow (pathways): "
            + ", ".join(f"{k} {v}" for k, v in result.local_sla_dropped.items())
        )
    return parts


def what_if_html(result: WhatIf) -> str:
    """The what-if replay as one self-contained HTML file."""
    doc = result.as_dict()

    def table(title: str, header: list[str], rows: list[list[object]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"

    owed_rows: list[list[object]] = []
    for kind in ("alerts", "letters"):
        a = doc["owed_only_under_pinned"][kind]
        b = doc["owed_only_under_candidate"][kind]
        owed_rows += [[kind, k, a.get(k, 0), b.get(k, 0)] for k in sorted(a.keys() | b.keys())]
    sections = [
        table(
            f"Clocks whose status would change ({len(result.changes)})",
            ["pathway", "clock", "pinned", "candidate"],
            [
                [c.pathway_id, c.clock_id, c.pinned or "(none)", c.candidate or "(none)"]
                for c in result.changes
            ],
        ),
        table(
            f"Events that would be refused ({len(result.refused)})",
            ["pathway", "event type", "field", "reason"],
            [[r.pathway_id, r.event_type, r.field, r.reason] for r in result.refused],
        ),
        table(
            "Alerts and letters owed under one version only",
            ["owed", "kind", "only under pinned", "only under candidate"],
            owed_rows,
        ),
        table(
            "Headline figures",
            ["measure", "title", "pinned", "candidate"],
            [
                [
                    h.id,
                    h.title,
                    f"{_percent(h.pinned)} ({h.pinned_of[0]}/{h.pinned_of[1]})",
                    f"{_percent(h.candidate)} ({h.candidate_of[0]}/{h.candidate_of[1]})",
                ]
                for h in result.headline
            ],
        ),
    ]
    title = html.escape(f"What-if {result.candidate}, {result.period_start} to {result.period_end}")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>body{{font-family:sans-serif}}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}</style>"
        f"</head><body><h1>{title}</h1><p>{result.pathways} pathways, as of "
        f"{html.escape(result.as_of.isoformat())}</p>" + "".join(sections) + "</body></html>\n"
    )


@ruleset_app.command("what-if")
def what_if_command(
    version: Version,
    date_from: Annotated[
        str, typer.Option("--from", help="First day of referral (YYYY-MM-DD), service time zone.")
    ],
    date_to: Annotated[str, typer.Option("--to", help="Last day, inclusive (YYYY-MM-DD).")],
    as_json: JsonFlag = False,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write the replay as one HTML file.")
    ] = None,
    as_of: AsOf = None,
) -> None:
    """Replay the clocks of a period's pathways under a candidate version, in memory: what
    would change (clocks, refused events, alerts and letters owed, headline figures)."""
    from services.adoption import load_what_if

    start, end = parse_day(date_from, "--from"), parse_day(date_to, "--to")
    if end < start:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    candidate = _candidate(version)
    moment = moment_or_now(as_of)
    settings = get_settings()
    engine = migrated_engine()
    with reading(engine) as conn:
        result = load_what_if(
            conn,
            candidate=candidate,
            start=start,
            end=end,
            as_of=moment,
            timezone=settings.timezone,
        )
    if html_file is not None:
        write_private(html_file, what_if_html(result))
        out.print(f"wrote {html_file}")
        return
    if as_json:
        out.print_json(json.dumps(result.as_dict(), sort_keys=True))
        return
    for part in what_if_text(result):
        out.print(part)


@ruleset_app.command("adopt")
def adopt_command(
    version: Version,
    open_only: Annotated[
        bool, typer.Option("--open", help="Re-pin the open pathways (closed ones never are).")
    ],
    by: Annotated[str, typer.Option("--by", help="Who adopts (recorded in the audit trail).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail).")],
    as_json: JsonFlag = False,
    as_of: AsOf = None,
) -> None:
    """Re-pin every open pathway to a candidate version, audited with who and why."""
    from services.adoption import adopt

    if not open_only:
        raise typer.BadParameter(
            "only open pathways are re-pinned: say --open", param_hint="--open"
        )
    who, why = free_text(by, "--by"), free_text(reason, "--reason")
    if len(who) > 200:
        raise typer.BadParameter("at most 200 characters", param_hint="--by")
    candidate = _candidate(version)
    moment = moment_or_now(as_of)
    result = adopt(migrated_engine(), candidate=candidate, by=who, reason=why, now=moment)
    if as_json:
        out.print_json(json.dumps(result.as_dict(), sort_keys=True))
        return
    out.print(
        f"re-pinned {len(result.adopted)} open pathways to {result.candidate}; "
        f"{result.already} already on it; {len(result.left_alone)} left on their version"
    )
    for p in result.left_alone:
        out.print(f"  {p.pathway_id} stays on {p.version}: would be refused: {p.field}, {p.reason}")


def register(app: typer.Typer) -> None:
    """Add the ruleset commands to the `cordwatch` application."""
    app.add_typer(ruleset_app, name="ruleset")
