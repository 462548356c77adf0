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
# # Personas and segments: who are our customers, and do they stay?
# Each designed persona's behaviour against everyone else, how well the personas match behavioural clusters, and how long customers stay active.

# %% tags=["parameters"]
db = ""  # DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` sets it)
start_date = ""  # first journey start date to include, like "2026-01-01"; empty: from the first
end_date = ""  # last journey start date to include (inclusive); empty: up to the last
segment = ""  # customer segment, e.g. "Premium"; empty: all segments
channel = ""  # only events in this channel, e.g. "app"; empty: all channels
persona = ""  # the persona whose profile is shown; empty: the database's first persona
period = "month"  # the period of cohorts, trends and reports: day, week, month, quarter or year
interactive = True  # widgets and live charts (Voilà, JupyterLab); False for papermill reports
renderer = "jupyter"  # "jupyter" (interactive charts) or "svg" (static pictures, for reports)
k_min = 10  # groups with fewer customers than this are not shown

# %%
import cjworkbench as cjw
from cjworkbench import charts, controls

# %%
panel = controls.panel(db, start_date=start_date, end_date=end_date, segment=segment, channel=channel,
                       interactive=interactive, renderer=renderer, k_min=k_min)
period_choice = controls.option("period", period)
panel

# %%
controls.headline(panel, "personas_and_segments", personas=controls.designed("personas", required=False))

# %% [markdown]
# ## Retention: customers still active, by the period they started
# Each row is a cohort of customers by their first period; read along a row to see how many are still active later. A darker right-hand side means customers stay.

# %%
controls.show(panel, cjw.retention_table, charts.retention_chart, count="n_cohort_customers", requires=("events",),
              period=period_choice)

# %% [markdown]
# ## Lifecycle: new, returning and lost customers
# Bars above zero are the active customers of each period by status; below zero the customers lost since the period before.

# %%
controls.show(panel, cjw.lifecycle_table, charts.lifecycle_chart, count="n_active", requires=("events",),
              period=period_choice)

# %% [markdown]
# ## Personas: one persona against everyone else
# The persona's share of purchases per channel, journeys per device and mean scores, beside all other customers; a difference whose interval excludes zero sets the persona apart.

# %%
controls.show_table(panel, cjw.personas_table, personas=controls.designed("personas"), rows=None,
                    requires=("personas",),
                    where=dict(persona=controls.data_option(panel, "persona", persona, notebook="personas_and_segments")),
                    columns=["measure", "category", "n_units", "value", "low", "high", "rest_value", "difference",
                             "difference_low", "difference_high", "p_value"])

# %% [markdown]
# ## Persona clusters: do the personas match how customers behave?
# Behavioural clusters (k-means on journeys, channels and scores) against the designed personas; a persona spread over many clusters is not one kind of behaviour.

# %%
controls.show_table(panel, cjw.persona_clusters_table, personas=controls.designed("personas"), rows=None,
                    requires=("events", "personas"),
                    columns=["persona", "cluster", "description", "n_customers", "share_of_persona", "share_of_cluster",
                             "best"])
