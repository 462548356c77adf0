"""The report manifest (`OUT/<label>/report.json`) and the index of every period (`OUT/index.html`),
which marks a page that failed with its reason."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import uuid
from pathlib import Path

MANIFEST = "report.json"


def manifest(db: Path, period: str, cur, entries: list[dict], *, no_data: bool = False,
             parameters: dict | None = None) -> dict:
    """What one run made: the period, the database's name, the parameters given, one entry per page."""
    from ..version import __version__

    return {"label": cur.label, "period": period, "start_date": str(cur.start), "end_date": str(cur.end),
            "database": db.name, "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cjworkbench_version": __version__, "no_data": no_data, "parameters": parameters or {},
            "notebooks": entries, "failed": [e["name"] for e in entries if e.get("status") == "failed"]}


def _entry(r: dict, n: dict) -> str:
    esc = html.escape
    link = f"<a href=\"{esc(r['label'])}/{esc(n['html'])}\">{esc(n['title'])}</a>" if n.get("html") else esc(n["title"])
    if n.get("status") != "failed":
        return f"<li>{link}</li>"
    kept = f" (showing the page made {esc(n['stale_from'])})" if n.get("stale_from") else ""
    return f"<li class=\"cjw-failed\">{link} <strong>failed</strong>{kept}: {esc(n.get('reason', ''))}</li>"


def write_index(out) -> Path:
    """`out/index.html`: one row per period (newest first), one link per notebook report."""
    out = Path(out)
    reports = []
    for d in sorted(out.iterdir(), reverse=True):
        if d.is_dir() and not d.name.startswith((".", "_")) and (d / MANIFEST).is_file():
            reports.append(json.loads((d / MANIFEST).read_text(encoding="utf-8")))
    esc = html.escape
    rows = "\n".join(f"<tr><th>{esc(r['label'])}</th><td>{esc(r['start_date'])} – {esc(r['end_date'])}"
                     f"{'<br><em>no data in this period</em>' if r.get('no_data') else ''}</td>"
                     f"<td><ul>{''.join(_entry(r, n) for n in r['notebooks'])}</ul></td>"
                     f"<td>{esc(r['generated'])}</td></tr>" for r in reports)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cjworkbench reports</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:2rem;color:#333}}table{{border-collapse:collapse}}
th,td{{text-align:left;padding:.4rem .8rem;border-bottom:1px solid #ddd;vertical-align:top}}
ul{{margin:0;padding-left:1.1rem}}li{{margin:.15rem 0}}a{{color:#4c78a8}}li.cjw-failed{{color:#a33}}</style>
</head><body><h1>Customer-journey reports</h1>
<p>{len(reports)} period(s). Each report opens without a network connection.</p>
<table><thead><tr><th>Period</th><th>Dates</th><th>Reports</th><th>Generated</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
    tmp = out / f".index-{uuid.uuid4().hex}.html.tmp"   # a name no other run uses
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out / "index.html")
    return out / "index.html"
