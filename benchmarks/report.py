"""Turn worker results into the comparison table (plain text or markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.catalog import DEFERRED_IMPLS, NO_EQUIVALENT, OPERATION, Row

Result = Mapping[str, Any]
Results = Mapping[str, Mapping[str, Result]]
"""``results[row_name][impl]``: one worker result."""


def is_ok(result: Result | None) -> bool:
    return result is not None and result.get("status") == "ok"


def format_value(kind: str, value: float) -> str:
    if kind == "time":
        if value < 1e-6:
            return f"{value * 1e9:.0f} ns"
        if value < 1e-3:
            return f"{value * 1e6:.2f} µs"
        return f"{value * 1e3:.2f} ms"
    if kind == "memory":
        return f"{value:.0f} B"
    if kind == "import":
        return f"{value * 1e3:.1f} ms"
    return f"x{value:.2f}"


def _short(text: str, width: int = 38) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_cell(row: Row, result: Result | None) -> str:
    if result is None:
        return "not run"
    status = result.get("status")
    if status == "ok":
        return format_value(row.kind, float(result["value"]))
    reason = str(result.get("reason", ""))
    if status == "n/a" and reason == NO_EQUIVALENT:
        return "—"
    return _short(f"{status}: {reason}")


def ratio(mine: Result | None, other: Result | None) -> float | None:
    if not (is_ok(mine) and is_ok(other)):
        return None
    assert mine is not None and other is not None
    denominator = float(other["value"])
    return float(mine["value"]) / denominator if denominator else None


def format_ratio(row: Row, mine: Result | None, other: Result | None) -> str:
    if row.kind == "linear":
        return "—"
    value = ratio(mine, other)
    return "—" if value is None else f"{value:.2f}"


def verdict(row: Row, by_impl: Mapping[str, Result], impl: str = "deferred") -> str:
    """``yes``, ``NO (...)`` naming the missed targets, ``?`` or ``n/a``.

    The targets are ``deferred``'s (its active, normally compiled, core);
    ``impl="deferred-py"`` asks how the pure-Python core fares against them.
    """
    mine = by_impl.get(impl)
    if not is_ok(mine):
        return "n/a"
    assert mine is not None
    target = row.target
    missed: list[str] = []
    unknown: list[str] = []
    checked = False
    if target.vs_twisted is not None:
        value = ratio(mine, by_impl.get("twisted"))
        if value is None:
            unknown.append("twisted")
        else:
            checked = True
            if value > target.vs_twisted:
                missed.append("twisted")
    asyncio_result = by_impl.get("asyncio")
    no_equivalent = (
        asyncio_result is not None and asyncio_result.get("reason") == NO_EQUIVALENT
    )
    if target.beat_asyncio and not no_equivalent:
        value = ratio(mine, asyncio_result)
        if value is None:
            unknown.append("asyncio")
        else:
            checked = True
            if value >= 1.0:
                missed.append("asyncio")
    if target.at_most is not None:
        checked = True
        if float(mine["value"]) > target.at_most:
            missed.append("limit")
    if missed:
        return f"NO ({', '.join(missed)})"
    if unknown:
        return f"? (no {', '.join(unknown)})"
    return "yes" if checked else "—"


def _target_text(row: Row) -> str:
    target = row.target
    if row.kind == "import" and target.at_most is not None:
        return f"≤ {target.at_most * 1e3:g} ms"
    if row.kind == "linear" and target.at_most is not None:
        return f"x{target.at_most:g} max"
    return target.describe()


def primary(impls: Sequence[str]) -> str | None:
    """The implementation the targets are evaluated on: ``deferred`` if it was
    run, else ``deferred-py``, else none."""
    return next((impl for impl in DEFERRED_IMPLS if impl in impls), None)


def _ratio_header(mine: str, other: str) -> str:
    return f"{'py ' if mine == 'deferred-py' else ''}ratio vs {other}"


def table(
    rows: Sequence[Row], results: Results, impls: Sequence[str], *, markdown: bool
) -> str:
    """The comparison table: one line per row.

    A time column per implementation; ratios against Twisted for each core of
    ``deferred`` that was run, against asyncio for the one the targets are
    evaluated on (``deferred``, or ``deferred-py`` run alone); the target and
    whether that one meets it.
    """
    header = ["workload", *impls]
    main = primary(impls)
    ratios: list[tuple[str, str]] = []
    if main is not None:
        if "twisted" in impls:
            ratios += [(mine, "twisted") for mine in DEFERRED_IMPLS if mine in impls]
        if "asyncio" in impls:
            ratios.append((main, "asyncio"))
        met = "met?" if main == "deferred" else f"met? ({main})"
        header += [_ratio_header(mine, other) for mine, other in ratios]
        header += ["target", met]
    lines: list[list[str]] = []
    for row in rows:
        by_impl = results.get(row.name, {})
        line = [row.title, *(format_cell(row, by_impl.get(impl)) for impl in impls)]
        if main is not None:
            line += [
                format_ratio(row, by_impl.get(mine), by_impl.get(other))
                for mine, other in ratios
            ]
            line += [_target_text(row), verdict(row, by_impl, main)]
        lines.append(line)
    return _markdown(header, lines) if markdown else _plain(header, lines)


def _markdown(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|")
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def _plain(header: list[str], lines: list[list[str]]) -> str:
    widths = [
        max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))
    ]

    def render(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (
            cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)
        )
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *(render(line) for line in lines)])


def notes(rows: Sequence[Row], results: Results, impls: Sequence[str]) -> list[str]:
    """Full reasons for the cells too narrow to show them (errors, long reasons)."""
    found: list[str] = []
    for row in rows:
        for impl in impls:
            result = results.get(row.name, {}).get(impl)
            if result is None or result.get("status") == "ok":
                continue
            full = f"{result['status']}: {result.get('reason', '')}"
            if result.get("reason") == NO_EQUIVALENT or _short(full) == full:
                continue
            found.append(f"{row.name} / {impl}: {full}")
    return found


def _counts(verdicts: Sequence[str]) -> tuple[int, int, int, int]:
    return (
        sum(v == "yes" for v in verdicts),
        sum(v.startswith("NO") for v in verdicts),
        sum(v.startswith("?") for v in verdicts),
        sum(v == "n/a" for v in verdicts),
    )


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def summary(
    rows: Sequence[Row], results: Results, impls: Sequence[str] = ("deferred",)
) -> str:
    """How many targets ``deferred`` meets, and the pure-Python core's standing.

    The targets are evaluated on ``deferred``; when ``deferred-py`` ran too, a
    second line says how it would fare and on which rows it differs.
    """
    main = primary(impls)
    if main is None:
        return ""
    verdicts = [verdict(row, results.get(row.name, {}), main) for row in rows]
    met, missed, unknown, not_available = _counts(verdicts)
    lines = [
        f"{main}: {_rows(met)} {'meets' if met == 1 else 'meet'} their targets, "
        f"{missed} miss, {unknown} cannot be compared, {not_available} n/a"
    ]
    if main == "deferred" and "deferred-py" in impls:
        py = [verdict(row, results.get(row.name, {}), "deferred-py") for row in rows]
        met, missed, unknown, not_available = _counts(py)
        differ = [
            f"{row.name} {theirs}"
            for row, ours, theirs in zip(rows, verdicts, py, strict=True)
            if ours != theirs
        ]
        lines.append(
            f"deferred-py (for reference): {_rows(met)} would meet "
            f"the targets, {missed} miss, {unknown} cannot be compared, "
            f"{not_available} n/a"
            + (f"; differs from deferred on: {', '.join(differ)}" if differ else "")
        )
    return "\n".join(lines)


def catalog_table(rows: Sequence[Row], equivalents: Mapping[str, str]) -> str:
    """Markdown description of the rows (``--list``): what each one measures."""
    header = ["row", "workload", "one op", "N (quick)", "asyncio equivalent", "target"]
    lines: list[list[str]] = []
    for row in rows:
        if row.kind == "linear":
            op = f"t(2N) / t(N) of `{row.base}`"
        else:
            op = OPERATION.get(row.name, "")
        if row.kind == "memory":
            op, size = "bytes per object (tracemalloc)", f"{row.n:,} ({row.quick_n:,})"
        elif row.kind == "import":
            op, size = "cumulative `-X importtime`", f"{row.n} runs ({row.quick_n})"
        else:
            size = f"{row.n:,} ({row.quick_n:,})"
        if row.base is not None:
            equivalent = f"as in `{row.base}`"
        else:
            equivalent = equivalents.get(row.name, "—")
        lines.append(
            [f"`{row.name}`", row.title, op, size, equivalent, _target_text(row)]
        )
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)
