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
# # Journey overview: where do our customers lose time?
# The customer and operational KPIs of every touchpoint, and the hotspots where customers wait longest.

# %% tags=["parameters"]
db = ""  # DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` sets it)
start_date = ""  # first journey start date to include, like "2026-01-01"; empty: from the first
end_date = ""  # last journey start date to include (inclusive); empty: up to the last
segment = ""  # customer segment, e.g. "Premium"; empty: all segments
channel = ""  # only events in this channel, e.g. "app"; empty: all channels
persona = ""  # customers of one designed persona, e.g. "traditional"; empty: all customers
top_hotspots = 12  # hotspots listed per kind (activities, transitions, rework loops)
interactive = True  # widgets and live charts (Voilà, JupyterLab); False for papermill reports
renderer = "jupyter"  # "jupyter" (interactive charts) or "svg" (static pictures, for reports)
k_min = 10  # groups with fewer customers than this are not shown

# %%
import cjworkbench as cjw
from cjworkbench import charts, controls

# %%
panel = controls.panel(db, start_date=start_date, end_date=end_date, segment=segment, channel=channel,
                       persona=persona, interactive=interactive, renderer=renderer, k_min=k_min)
panel

# %%
controls.headline(panel, "overview", top=controls.option("top_hotspots", top_hotspots))

# %% [markdown]
# ## KPI scorecard
# The journey KPIs for the month up to the end date: value, change against the previous month (blue is better,
# orange is worse) and the trend; a KPI the data cannot give says which mapping it needs.

# %%
controls.show(panel, cjw.scorecard_table, charts.scorecard_chart, requires=("events", "roles"))

# %% [markdown]
# ## KPI map: customer KPIs per touchpoint
# Each touchpoint's customer and operational KPIs as the KPI map defines them.

# %%
controls.show_table(panel, cjw.kpi_map_table, kpi_map=controls.designed("kpi_map"), rows=None, requires=("kpi_map",),
                    columns=["touchpoint", "n_customers", "conversion_rate", "nps", "csat_mean", "ces_mean",
                             "fcr_rate", "throughput_seconds"])

# %% [markdown]
# ## Hotspots: where the hours go
# The activities and hand-overs where customers wait longest in total, ranked; start improving at the top.

# %%
controls.show(panel, cjw.hotspots_table, charts.hotspots_chart, count="n_journeys", requires=("events",),
              top=controls.option("top_hotspots", top_hotspots))
