"""How long `cjw report` takes on the default demo (20,000 customers), notebook by notebook, and
what `changes_table` costs per area.

    .venv/bin/python benchmarks/report.py [--db demo/cjworkbench.duckdb] [--as-of 2026-06-30]

The database is linked into a temporary folder together with its `designed/` files (adding the
packaged theme taxonomy when an older demo lacks it), so nothing beside the demo is touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cjworkbench import connect  # noqa: E402
from cjworkbench.analysis.changes.changes import AREAS, changes_table  # noqa: E402
from cjworkbench.reports import report_notebooks, run_report  # noqa: E402


def _workspace(db: Path, folder: Path) -> Path:
    (folder / "designed").mkdir(parents=True)
    os.symlink(db.resolve(), folder / db.name)
    for f in (db.parent / "designed").glob("*.yml"):
        shutil.copy(f, folder / "designed" / f.name)
    if not (folder / "designed" / "themes.yml").exists():
        shutil.copy(ROOT / "cjworkbench" / "demo" / "themes.yml", folder / "designed" / "themes.yml")
    return folder / db.name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(ROOT / "demo" / "cjworkbench.duckdb"))
    ap.add_argument("--as-of", default="2026-06-30")
    ap.add_argument("--notebooks", nargs="*", help="default: every report notebook in notebooks/")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        db = _workspace(Path(args.db), Path(tmp) / "work")
        con = connect(db)
        print("changes_table, month, baselines previous + six_months (cold, one area at a time):")
        for area in AREAS:
            options = {"taxonomy": db.parent / "designed" / "themes.yml"} if area == "theme" else {}
            t = time.perf_counter()
            df = changes_table(con, as_of=args.as_of, baseline="previous, six_months", areas=(area,), **options)
            print(f"  {area:<11} {time.perf_counter() - t:6.1f} s  {len(df):3d} rows")
        con.disconnect()
        files = report_notebooks(args.notebooks or None)
        print(f"cjw report on {Path(args.db).name}, as of {args.as_of}: {', '.join(f.stem for f in files)}")
        t = time.perf_counter()
        manifest = run_report(db, period="month", as_of=args.as_of, out=Path(tmp) / "out", notebooks=files,
                              progress=lambda msg: print("  " + msg, flush=True))
        total = time.perf_counter() - t
        for n in manifest["notebooks"]:
            size = (Path(tmp) / "out" / manifest["label"] / n["html"]).stat().st_size
            print(f"  {n['name']:<24} {n['seconds']:6.1f} s  {size / 1024:7.0f} KB HTML")
        print(f"total {total:.1f} s for {len(files)} notebook(s); load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
