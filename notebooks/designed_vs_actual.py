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
# # Designed vs actual: do customers follow the onboarding journey we designed, and what does deviating cost?
# How closely onboarding journeys follow the designed steps, which deviations happen most, and what each does to the outcome.

# %% tags=["parameters"]
db = ""  # DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` sets it)
start_date = ""  # first journey start date to include, like "2026-01-01"; empty: from the first
end_date = ""  # last journey start date to include (inclusive); empty: up to the last
segment = ""  # customer segment, e.g. "Premium"; empty: all segments
channel = ""  # only events in this channel, e.g. "app"; empty: all channels
persona = ""  # customers of one designed persona, e.g. "traditional"; empty: all customers
journey = ""  # the designed journey compared with what customers did; empty: the database's first
outcome = "completion"  # what a deviation is judged by: completion, time, nps, csat or ces
by = ""  # compare groups in the deviation chart: persona or segment; empty: no groups
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
controls.headline(panel, "designed_vs_actual", design=controls.designed("journeys", journey, required=False),
                  personas=controls.designed("personas", required=False), outcome=outcome,
                  by=controls.option("by", by, notebook="designed_vs_actual"))

# %% [markdown]
# ## Conformance: how closely journeys follow the design
# Journeys by fitness (the share of the required steps done in the designed order); blue bars reached the goal. Mass on the right with little blue means the design itself does not lead to the goal.

# %%
controls.show(panel, cjw.conformance_table, charts.conformance_chart, count=None, requires=("events", "journey"),
              design=controls.designed("journeys", journey), personas=controls.designed("personas", required=False))

# %% [markdown]
# ## Deviations: which happen, and what they cost
# Left: how often journeys deviate at each step; right: the outcome of those journeys against conforming ones. An interval that stays away from the dashed zero line is a deviation worth designing for.

# %%
controls.show(panel, cjw.deviations_table, charts.deviations_chart, count="n_deviating", requires=("events", "journey"),
              design=controls.designed("journeys", journey), personas=controls.designed("personas", required=False),
              outcome=controls.option("outcome", outcome),
              by=controls.option("by", by, notebook="designed_vs_actual"))
