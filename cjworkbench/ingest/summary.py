"""What an ingest did, per source: counts that reconcile, reject reasons and examples."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import RejectedRowsError


@dataclass
class SourceResult:
    name: str
    kind: str
    files: list[str]
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_duplicate: int
    reasons: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)
    seconds: float = 0.0
    rows_filtered: int = 0   # removed by the source's `where:` (not rejects): read = loaded + rejected + filtered
    notes: list[str] = field(default_factory=list)


@dataclass
class IngestSummary:
    db_path: str
    run_id: str
    sources: list[SourceResult]
    seconds: float
    mode: str = "full"          # full (every file) or refresh (new and changed files only)
    notes: list[str] = field(default_factory=list)   # why a full build; what a refresh loaded, skipped, kept

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sources)

    @property
    def rows_loaded(self) -> int:
        return sum(s.rows_loaded for s in self.sources)

    @property
    def rows_rejected(self) -> int:
        return sum(s.rows_rejected for s in self.sources)

    @property
    def rows_filtered(self) -> int:
        return sum(s.rows_filtered for s in self.sources)

    def source(self, name: str) -> SourceResult:
        return next(s for s in self.sources if s.name == name)

    def to_dict(self) -> dict:
        return {"db_path": self.db_path, "run_id": self.run_id, "seconds": round(self.seconds, 3),
                "mode": self.mode, "notes": self.notes,
                "rows_read": self.rows_read, "rows_loaded": self.rows_loaded,
                "rows_rejected": self.rows_rejected, "rows_filtered": self.rows_filtered,
                "sources": [asdict(s) | {"seconds": round(s.seconds, 3)} for s in self.sources]}

    def reject_overview(self) -> str:
        parts = [f"{s.name}: " + ", ".join(f"{n:,} {r}" for r, n in s.reasons.items())
                 for s in self.sources if s.rows_rejected]
        return f"{self.rows_rejected:,} rows rejected ({'; '.join(parts)})." if parts else "no rows rejected."

    def format_text(self) -> str:
        """A table a person reads after `cjw ingest`: one line per source, then reject examples."""
        w = max([len(s.name) for s in self.sources] + [6])
        lines = [f"{'source':<{w}}  {'kind':<9} {'read':>11} {'loaded':>11} {'rejected':>9} {'dupes':>7} "
                 f"{'filtered':>9}"]
        for s in self.sources:
            lines.append(f"{s.name:<{w}}  {s.kind:<9} {s.rows_read:>11,} {s.rows_loaded:>11,} "
                         f"{s.rows_rejected:>9,} {s.rows_duplicate:>7,} {s.rows_filtered:>9,}")
        lines.append(f"{'total':<{w}}  {'':<9} {self.rows_read:>11,} {self.rows_loaded:>11,} "
                     f"{self.rows_rejected:>9,} {'':>7} {self.rows_filtered:>9,}")
        for s in self.sources:
            lines += [f"  {s.name}: {note}" for note in s.notes]
            for reason, n in s.reasons.items():
                ex = "; ".join(f"{e['file']}:{e['line']}" + _value(e) for e in s.examples.get(reason, []))
                lines.append(f"  {s.name}: {n:,} {reason}" + (f" (e.g. {ex})" if ex else ""))
        lines += [f"{self.mode}: {note}" for note in self.notes]
        lines.append(f"database: {self.db_path}  ({self.seconds:.1f} s, run {self.run_id})")
        return "\n".join(lines)


def _value(example: dict) -> str:
    if not example["value"]:
        return ""
    text = example["value"] if len(example["value"]) <= 60 else example["value"][:57] + "..."
    return f" {example['column']}={text!r}" if example["column"] else f" {text!r}"


def source_result(con, src, loaded: int, filtered: int, seconds: float) -> SourceResult:
    """The counts, reasons and three examples per reason of one source, from the staging tables."""
    reasons = dict(con.execute("SELECT reason, count(*) FROM __rejects WHERE source = ? GROUP BY reason "
                               "ORDER BY count(*) DESC, reason", [src.name]).fetchall())
    examples = {}
    for reason in reasons:
        rows = con.execute("SELECT file, line, \"column\", value FROM __rejects WHERE source = ? AND reason = ? "
                           "ORDER BY file, line LIMIT 3", [src.name, reason]).fetchall()
        examples[reason] = [{"file": Path(f).name, "line": ln, "column": c, "value": v} for f, ln, c, v in rows]
    rejected = sum(reasons.values())
    notes = []
    if src.rules is not None and src.rules.generated_id:
        notes.append("customer_id generated per row (`id: generated`): the pseudonym of source:file:line")
    if filtered:
        notes.append(f"{filtered:,} rows left out by `where: {src.rules.where}`")
    return SourceResult(src.name, src.kind, [str(f) for f in src.files], loaded + rejected + filtered, loaded,
                        rejected, reasons.get("duplicate", 0), reasons, examples, seconds, filtered, notes)


# what to check in the config when a reason dominates a source's rejects
_HINTS = {"unparseable timestamp": "check `timestamp_format:` (strptime, e.g. \"%d/%m/%Y %H:%M\") and the "
                                   "column mapped to the timestamp",
          "score outside scale": "check `scale:` against the scores the export holds",
          "not a number": "check `decimal:` and the column mapped to the number",
          "malformed line": "check `delimiter:`, `encoding:` and `header:`",
          "duplicate customer_id": "check the column mapped to customer_id, or use `id: generated`"}


def check_reject_share(result: SourceResult, src, default_share: float) -> None:
    """Fail the ingest (RejectedRowsError) when a source loads nothing although it read rows, or rejects
    more than its `max_reject_share` (else the `limits:` one) of the rows that were not exact repeats
    or left out by `where:`. The message names the top reasons, with counts, an example and the fix."""
    ceiling = src.rules.max_reject_share if src.rules is not None and src.rules.max_reject_share is not None \
        else default_share
    usable = result.rows_read - result.rows_filtered - result.rows_duplicate
    bad = result.rows_rejected - result.rows_duplicate
    if result.rows_loaded and (not usable or bad / usable <= ceiling):
        return
    if not result.rows_loaded and not result.rows_read:
        return
    if not result.rows_loaded and result.rows_read == result.rows_filtered:
        raise RejectedRowsError(f"Source '{src.name}': `where: {src.rules.where}` kept none of its "
                                f"{result.rows_read:,} rows. Check the expression against the export's values. "
                                f"Nothing was written; the previous database is untouched.")
    what = "every row" if not result.rows_loaded else \
        f"{bad:,} of {usable:,} rows ({bad / usable:.0%}, more than max_reject_share {ceiling:g})"
    top = [r for r in result.reasons if r != "duplicate"][:3] or list(result.reasons)[:3]
    parts = []
    for reason in top:
        ex = (result.examples.get(reason) or [{}])[0]
        at = f" (e.g. {ex['file']}:{ex['line']}{_value(ex)})" if ex else ""
        hint = _HINTS.get(reason) or (f"check `columns: {reason[8:]}`" if reason.startswith("missing ") else "")
        if reason == "score outside scale" and src.scale:
            hint += f" (now [{src.scale[0]:g}, {src.scale[1]:g}])"
        elif reason == "unparseable timestamp":
            hint += f" (now {', '.join(src.timestamp_formats) if src.timestamp_formats else 'ISO-8601'})"
        parts.append(f"{result.reasons[reason]:,} {reason}{at}" + (f": {hint}" if hint else ""))
    raise RejectedRowsError(f"Source '{src.name}' rejected {what}: {'; '.join(parts)}. Nothing was written; the "
                            f"previous database is untouched. If these rejects are expected, raise "
                            f"`max_reject_share:` for the source (or under `limits:`).")
