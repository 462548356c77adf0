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
# # Voice of the customer: how do customers rate us, what do they talk about, and which moments matter?
# Survey scores over time, the sentiment and themes of comments, how feedback follows the journey, and the moments of truth that drive the score.

# %% tags=["parameters"]
db = ""  # DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` sets it)
start_date = ""  # first journey start date to include, like "2026-01-01"; empty: from the first
end_date = ""  # last journey start date to include (inclusive); empty: up to the last
segment = ""  # customer segment, e.g. "Premium"; empty: all segments
channel = ""  # only events in this channel, e.g. "app"; empty: all channels
persona = ""  # customers of one designed persona, e.g. "traditional"; empty: all customers
instrument = ""  # the feedback shown: nps, csat, ces, review, complaint or social; empty: the first the database has
themes = ""  # theme taxonomy for theme impact on NPS: the name of a `themes` design the database carries; empty: the first it carries
period = "month"  # the period of cohorts, trends and reports: day, week, month, quarter or year
interactive = True  # widgets and live charts (Voilà, JupyterLab); False for papermill reports
renderer = "jupyter"  # "jupyter" (interactive charts) or "svg" (static pictures, for reports)
k_min = 10  # groups with fewer customers than this are not shown

# %%
import cjworkbench as cjw
from cjworkbench import charts, controls

# %%
panel = controls.panel(db, start_date=start_date, end_date=end_date, segment=segment, channel=channel,
                       persona=persona, interactive=interactive, renderer=renderer, k_min=k_min)
score = controls.data_option(panel, "instrument", instrument)
panel

# %%
controls.headline(panel, "voc", instrument=score, period=period,
                  taxonomy=controls.designed("themes", themes, required=False))

# %% [markdown]
# ## Scores: the score over time
# The line is the score per period and the band its 95 % interval; a move that leaves the band of earlier periods is more than noise.

# %%
controls.show(panel, cjw.scores_table, charts.scores_chart, count="n_answers", requires=("feedback", "score"),
              instrument=score, by="period", period=controls.option("period", period))

# %% [markdown]
# ## Feedback on the journey: where the answers come from
# Answers grouped by the touchpoint customers used just before answering, with the score and the tone of their comments.

# %%
controls.show_table(panel, cjw.feedback_on_journey_table, requires=("feedback", "events"), instrument=score,
                    by="touchpoint", rows=None,
                    columns=["touchpoint", "n_answers", "n_customers", "score_mean", "nps", "sentiment_mean",
                             "small_sample"])

# %% [markdown]
# ## Sentiment: the tone of the comments
# Share of negative, neutral and positive comments per touchpoint; a large orange part shows where customers are unhappy in their own words.

# %%
controls.show(panel, cjw.sentiment_table, charts.sentiment_chart, count="n_answers", requires=("feedback", "texts"),
              by="touchpoint")

# %% [markdown]
# ## Theme impact: themes that move the score
# Each theme's effect on the score: left of zero lowers it. Fix the themes whose whole interval is on the left first.

# %%
controls.show(panel, cjw.theme_impact_table, charts.theme_impact_chart, count="n_theme",
              requires=("feedback", "themes", "score"), taxonomy=controls.designed("themes", themes), instrument=score)

# %% [markdown]
# ## Drivers: the moments of truth that move the score
# Journey facts (a late delivery, a repeat contact, a channel switch, ...) in one model: the bars show how much of the explained score each one carries, coloured points are the moments of truth (blue raises the score, orange lowers it).

# %%
controls.show(panel, cjw.drivers_table, charts.drivers_chart, count="n_answers", requires=("feedback", "events", "score"),
              outcome=score)
