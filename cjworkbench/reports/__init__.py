"""Periodic reports: the report notebooks run by papermill, kept as self-contained offline HTML.

`run_report()` (and `cjw report`) executes every report notebook (a jupytext `py:percent` file or
an `.ipynb` with a cell tagged `parameters`) for one period into `OUT/<label>/` (`run`), with the
report parameters each notebook declares (`parameters`), as HTML without code that asks no server
for anything (`pages`), and rewrites `OUT/index.html` (`index`). One failing notebook is marked on
the index with its reason while the others are published.
"""

from .index import MANIFEST, manifest, write_index
from .pages import OFFLINE_URLS, REMOTE, ReportError, failed_page, no_data_page, title, to_html
from .parameters import declared, from_command_line, from_config, per_notebook
from .run import (DEFAULT_TIMEOUT, FAILED, LOCK, NOTEBOOKS, data_in_period, execute, failure, report_notebooks,
                  run_report)

__all__ = ["DEFAULT_TIMEOUT", "FAILED", "LOCK", "MANIFEST", "NOTEBOOKS", "OFFLINE_URLS", "REMOTE", "ReportError",
           "data_in_period", "declared", "execute", "failed_page", "failure", "from_command_line", "from_config",
           "manifest", "no_data_page", "per_notebook", "report_notebooks", "run_report", "title", "to_html",
           "write_index"]
