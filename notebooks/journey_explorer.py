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
# # Journey explorer: which paths do customers really take?
# The process map of all journeys, the most common paths, and what happens at each step.

# %% tags=["parameters"]
db = ""  # DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` sets it)
start_date = ""  # first journey start date to include, like "2026-01-01"; empty: from the first
end_date = ""  # last journey start date to include (inclusive); empty: up to the last
segment = ""  # customer segment, e.g. "Premium"; empty: all segments
channel = ""  # only events in this channel, e.g. "app"; empty: all channels
persona = ""  # customers of one designed persona, e.g. "traditional"; empty: all customers
top_transitions = 20  # transitions drawn on the process map (the busiest)
rare_percent = 1  # activities with fewer than this % of events are drawn as one (other) node on the process map; 0: every activity
top_variants = 12  # most common journeys listed
max_steps = 8  # steps shown in the step matrix
anchor = ""  # activity whose following paths are shown; empty: the first step of the database's funnel
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
controls.headline(panel, "journey_explorer", top=top_variants)

# %% [markdown]
# ## Transitions: the process map
# Read it left to right (top to bottom on a phone): thicker arrows carry more journeys, their colour says how long customers wait between the two steps.

# %%
controls.show(panel, cjw.transitions_table, charts.transitions_chart, requires=("events",),
              chart_options=dict(top=controls.option("top_transitions", top_transitions),
                                 rare_percent=controls.option("rare_percent", rare_percent)))

# %% [markdown]
# ## Variants: the most common journeys
# Each bar is one exact sequence of steps; a long tail of rare variants means journeys are hard to standardise.

# %%
controls.show(panel, cjw.variants_table, charts.variants_chart, requires=("events",),
              top=controls.option("top_variants", top_variants))

# %% [markdown]
# ## Step matrix: what happens at each step
# Each column is a step in the journey; dark cells are the activities most journeys do at that step.

# %%
controls.show(panel, cjw.step_matrix_table, charts.step_matrix_chart, count="n_journeys", requires=("events",),
              max_steps=controls.option("max_steps", max_steps))

# %% [markdown]
# ## Paths around a step: what customers do after it
# The paths that follow the anchor activity: where they continue, and how many stop there.

# %%
controls.show(panel, cjw.paths_around_table, charts.paths_around_chart, count="n_journeys", requires=("events",),
              anchor=controls.data_option(panel, "anchor", anchor))
