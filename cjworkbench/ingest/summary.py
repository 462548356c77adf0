"""What an ingest did, per source: counts that reconcile, reject reasons and examples."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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


@dataclass
class IngestSummary:
    db_path: str
    run_id: str
    sources: list[SourceResult]
    seconds: float

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sources)

    @property
    def rows_loaded(self) -> int:
        return sum(s.rows_loaded for s in self.sources)

    @property
    def rows_rejected(self) -> int:
        return sum(s.rows_rejected for s in self.sources)

    def source(self, name: str) -> SourceResult:
        return next(s for s in self.sources if s.name == name)

    def to_dict(self) -> dict:
        return {"db_path": self.db_path, "run_id": self.run_id, "seconds": round(self.seconds, 3),
                "rows_read": self.rows_read, "rows_loaded": self.rows_loaded,
                "rows_rejected": self.rows_rejected,
                "sources": [asdict(s) | {"seconds": round(s.seconds, 3)} for s in self.sources]}

    def reject_overview(self) -> str:
        parts = [f"{s.name}: " + ", ".join(f"{n:,} {r}" for r, n in s.reasons.items())
                 for s in self.sources if s.rows_rejected]
        return f"{self.rows_rejected:,} rows rejected ({'; '.join(parts)})." if parts else "no rows rejected."

    def format_text(self) -> str:
        """A table a person reads after `cjw ingest`: one line per source, then reject examples."""
        w = max([len(s.name) for s in self.sources] + [6])
        lines = [f"{'source':<{w}}  {'kind':<9} {'read':>11} {'loaded':>11} {'rejected':>9} {'dupes':>7}"]
        for s in self.sources:
            lines.append(f"{s.name:<{w}}  {s.kind:<9} {s.rows_read:>11,} {s.rows_loaded:>11,} "
                         f"{s.rows_rejected:>9,} {s.rows_duplicate:>7,}")
        lines.append(f"{'total':<{w}}  {'':<9} {self.rows_read:>11,} {self.rows_loaded:>11,} "
                     f"{self.rows_rejected:>9,}")
        for s in self.sources:
            for reason, n in s.reasons.items():
                ex = "; ".join(f"{e['file']}:{e['line']}" + _value(e) for e in s.examples.get(reason, []))
                lines.append(f"  {s.name}: {n:,} {reason}" + (f" (e.g. {ex})" if ex else ""))
        lines.append(f"database: {self.db_path}  ({self.seconds:.1f} s, run {self.run_id})")
        return "\n".join(lines)


def _value(example: dict) -> str:
    if not example["value"]:
        return ""
    text = example["value"] if len(example["value"]) <= 60 else example["value"][:57] + "..."
    return f" {example['column']}={text!r}" if example["column"] else f" {text!r}"
