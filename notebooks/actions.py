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
# # From insight to action: what is each channel worth, would a rule have helped, and how long until customers convert?
# Conversions attributed to the channels that led to them, next-best-action rules replayed over history (an observational back-test), and the time customers take to convert, with censoring handled.

# %% tags=["parameters"]
db = ""  # DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` sets it)
start_date = ""  # first journey start date to include, like "2026-01-01"; empty: from the first
end_date = ""  # last journey start date to include (inclusive); empty: up to the last
segment = ""  # customer segment, e.g. "Premium"; empty: all segments
channel = ""  # only events in this channel, e.g. "app"; empty: all channels
conversion = ""  # the activity that counts as a conversion, like "checkout_confirmed"; empty: the most common last activity of journeys
model = "markov"  # attribution model: first, last, linear, time_decay, position, markov or shapley
lookback_days = 30  # days of touches before a conversion that count towards it
rules = ""  # next-best-action rules to back-test: the name of an `actions` design the database carries; empty: the first it carries, else one rule derived from the data
start = ""  # activity that starts the clock for time to conversion, like "signup"; empty: each customer's first event
by = "segment"  # compare time to conversion by segment, start_channel, start_device, variant or handoff
interactive = True  # widgets and live charts (Voilà, JupyterLab); False for papermill reports
renderer = "jupyter"  # "jupyter" (interactive charts) or "svg" (static pictures, for reports)
k_min = 10  # groups with fewer customers than this are not shown

# %%
import cjworkbench as cjw
from cjworkbench import charts, controls

# %%
panel = controls.panel(db, start_date=start_date, end_date=end_date, segment=segment, channel=channel,
                       interactive=interactive, renderer=renderer, k_min=k_min)
conversion = controls.data_option(panel, "conversion", conversion, notebook="actions")
start = controls.data_option(panel, "start", start, notebook="actions")
by = controls.option("by", by, notebook="actions")
panel

# %%
controls.headline(panel, "actions", rules=controls.designed("actions", rules, required=False), n_resamples=100)

# %% [markdown]
# ## What each channel is worth
# Conversions handed to the channels on the paths that led to them; a channel whose interval stays well above zero under several models carries real weight, one that only the last-touch model credits mostly closes sales others opened.

# %%
controls.show(panel, cjw.attribution_table, charts.attribution_chart, requires=("events", "touchpoints"),
              conversion=conversion,
              model=controls.option("model", model, notebook="actions"),
              lookback_days=controls.option("lookback_days", lookback_days, notebook="actions"), n_resamples=100)

# %% [markdown]
# ## Would the rules have helped?
# Each rule replayed over history: how often it would have fired, and the outcome of those moments against comparable ones; a difference whose interval excludes zero is worth a real test, since nothing here was randomised.

# %%
controls.show(panel, cjw.actions_table, charts.actions_chart, requires=("events",),
              rules=controls.designed("actions", rules, required=False), n_resamples=100)

# %% [markdown]
# ## How long until customers convert
# The share of customers still without the conversion as days pass, per group; customers who have not converted yet by the end of the data count until then (censored), so recent customers do not look like losses.

# %%
controls.show(panel, cjw.survival_table, charts.survival_chart, requires=("events",), event=conversion, start=start,
              by=by)

# %% [markdown]
# ## Which groups convert sooner
# The hazard ratio of each group against the largest one: above 1 converts sooner; a hollow point failed the proportional-hazards check, so read its curve above instead of the single ratio.

# %%
controls.show(panel, cjw.hazard_table, charts.hazard_chart, requires=("events",), event=conversion, start=start, by=by)
