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
# # Funnels and hand-offs: where do customers drop out, and which channel switches cost us?
# A funnel through the steps you choose with the drop-off at each, where the drop-outs went, and the channel switches with their effect on reaching the goal.

# %% tags=["parameters"]
db = ""  # DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` sets it)
start_date = ""  # first journey start date to include, like "2026-01-01"; empty: from the first
end_date = ""  # last journey start date to include (inclusive); empty: up to the last
segment = ""  # customer segment, e.g. "Premium"; empty: all segments
channel = ""  # only events in this channel, e.g. "app"; empty: all channels
persona = ""  # customers of one designed persona, e.g. "traditional"; empty: all customers
unit = ""  # what one journey is: session (a visit across channels), journey (one source's id) or customer; empty: session when the funnel's window is a day or less, else journey
steps = ""  # the funnel's activities, in order; empty: the database's first named funnel, else its most common path
window = ""  # time from entering the funnel to reach the last step, like "7d" or "2h"; empty: the named funnel's window, else no limit
at_step = 3  # the funnel step whose drop-outs are followed (2 or later)
dimension = "channel"  # what a hand-off switches: channel, device or department
outcome_activity = ""  # the goal a switch may help or hurt; empty: the database's goal, else the most common last activity of journeys
interactive = True  # widgets and live charts (Voilà, JupyterLab); False for papermill reports
renderer = "jupyter"  # "jupyter" (interactive charts) or "svg" (static pictures, for reports)
k_min = 10  # groups with fewer customers than this are not shown

# %%
import cjworkbench as cjw
from cjworkbench import charts, controls

# %%
panel = controls.panel(db, start_date=start_date, end_date=end_date, segment=segment, channel=channel,
                       persona=persona, interactive=interactive, renderer=renderer, k_min=k_min)
steps = controls.data_option(panel, "steps", steps)
window = controls.data_option(panel, "window", window)
unit = controls.data_option(panel, "unit", unit, window=window)
switch_of = controls.option("dimension", dimension)
outcome = controls.data_option(panel, "outcome_activity", outcome_activity)
panel

# %%
controls.headline(panel, "funnels_and_gaps", steps=steps, window=window, unit=unit, by=switch_of, n_resamples=500,
                  outcome_activity=outcome)

# %% [markdown]
# ## Funnel: how many reach each step
# The share reaching each step after the first, with the drop-off between steps; the widest drop is the first place to look.

# %%
controls.show(panel, cjw.funnel_table, charts.funnel_chart, count="n_entered", requires=("events", "funnel"),
              steps=steps, window=window, unit=unit)

# %% [markdown]
# ## Funnel drop-off next: where the drop-outs went instead
# What those who stopped before the chosen step did next: a contact or another channel points to a hand-off.

# %%
controls.show(panel, cjw.funnel_dropoff_next_table, charts.funnel_dropoff_next_chart, count="n_dropped",
              requires=("events", "funnel"), steps=steps, window=window, unit=unit,
              at_step=controls.data_option(panel, "at_step", at_step, steps=steps))

# %% [markdown]
# ## Switch matrix: channel switches inside journeys
# How often journeys move from one channel (or device, department) to another; the big cells are the hand-offs.

# %%
controls.show(panel, cjw.switch_matrix_table, charts.switch_matrix_chart, requires=("events", "channels"),
              by=switch_of, unit=unit)

# %% [markdown]
# ## Switch gaps: what a switch does to reaching the goal
# Journeys with each switch against journeys that stayed where they started; a difference whose interval excludes zero is a hand-off gap worth a closer look.

# %%
controls.show(panel, cjw.switch_gaps_table, charts.switch_gaps_chart, count="n_with", requires=("events", "channels"),
              by=switch_of, unit=unit, n_resamples=500,
              outcome_activity=outcome)

# %% [markdown]
# ## What linking identities changed
# The same counts by each export's own customer number (before) and by person (after: the records the `identity:` block linked): customers merged into one person, journeys that now cross channels, and the channel hand-off that grew most with linking, with its gap, which may show only once the silos are joined.

# %%
controls.show_table(panel, cjw.linkage_effect_table, rows=None, count=None, requires=("events", "identity"),
                    outcome_activity=outcome)
