# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # What changed: which journey figures moved this period, and can we trust it?
# This period against the previous one and against six months earlier: funnel conversion, journey
# variants, times between steps, survey scores and what drives them, ranked by how sure we are.

# %% tags=["parameters"]
db = ""  # DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` sets it)
period = "month"  # the period of cohorts, trends and reports: day, week, month, quarter or year
start_date = ""  # not used here: the period and end_date set the dates (`cjw report` passes it to every notebook)
end_date = ""  # last day of the period, like "2026-06-30"; empty: the last day with events (`cjw report` sets it)
baseline = "previous, six_months"  # compare with: previous, six_months and/or year, comma-separated
steps = ""  # the funnel's activities, in order; empty: the database's first named funnel, else its most common path
drivers = ["csat", "ces"]  # survey outcomes whose driver effects are compared; [] to skip (the slowest part)
themes = ""  # theme taxonomy for theme impact on NPS: the name of a `themes` design the database carries; empty: the first it carries
segment = ""  # customer segment, e.g. "Premium"; empty: all segments
channel = ""  # only events in this channel, e.g. "app"; empty: all channels
top = 15  # figures in the chart and the table
min_n = 30  # compare a figure only when both periods have at least this many journeys or answers
interactive = True  # widgets and live charts (Voilà, JupyterLab); False for papermill reports
renderer = "jupyter"  # "jupyter" (interactive charts) or "svg" (static pictures, for reports)
k_min = 10  # groups with fewer customers than this are not shown

# %%
from cjworkbench import controls
from cjworkbench.analysis.changes.changes import changes_table
from cjworkbench.charts import changes_chart

# %%
panel = controls.panel(db, end_date=end_date, segment=segment, channel=channel, interactive=interactive,
                       renderer=renderer, k_min=k_min)
funnels = controls.data_option(panel, "funnels", steps)
baseline = controls.data_option(panel, "baseline", baseline, period=period)
drivers = controls.data_option(panel, "drivers", drivers)
panel

# %%
controls.headline(panel, "what_changed", period=period, baseline=baseline, funnels=funnels, drivers=drivers,
                  taxonomy=controls.designed("themes", themes, required=False), min_n=max(min_n, k_min))

# %% [markdown]
# ## Changes: the figures that moved most
# Each line is a change with its 95 % interval; orange is worse, blue is better, grey has no good direction
# (a variant's share). Faded lines could be chance: with this many comparisons, only the solid ones hold
# up after the Benjamini-Hochberg correction. In the dashboard, the "To" date picks the period's last day.

# %%
controls.show(panel, changes_table, changes_chart, count=None, chart_options=dict(top=top), requires=("events",),
              period=period, baseline=baseline, funnels=funnels, drivers=drivers,
              taxonomy=controls.designed("themes", themes, required=False), min_n=max(min_n, k_min))

# %% [markdown]
# ## Changes: every compared figure, most certain first
# Change is this period's figure minus the previous one's (rates in percentage points, NPS in points, times
# as durations); the q-value is the p-value corrected for the number of comparisons. On a phone, one card a figure.

# %%
controls.show_table(panel, changes_table, rows=top, count=None,
                    columns=["rank", "area", "item", "metric", "baseline", "previous", "current", "change", "low",
                             "high", "q_value", "significant", "n_previous", "n_current"],
                    requires=("events",), period=period, baseline=baseline, funnels=funnels, drivers=drivers,
                    taxonomy=controls.designed("themes", themes, required=False), min_n=max(min_n, k_min))
