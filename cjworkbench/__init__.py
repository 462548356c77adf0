"""cjworkbench: customer-journey analytics on one embedded DuckDB model.

Every analysis is `<concept>_table(con, *, ...) -> pandas.DataFrame` over `connect()`'s Ibis
backend, with its definition in `df.attrs["definition"]`.
"""

from .version import __version__  # noqa: E402

# Lazy: `import cjworkbench` loads only the errors; an analysis is imported the first time its name
# is used (a dashboard kernel needs 3 of them, and importing all took about 1.8 s: pandas, Ibis,
# scipy, statsmodels). `from cjworkbench import x` and `cjworkbench.x` work as before.
_LAZY = {
    "changes_table": ".analysis.changes.changes",
    "conformance_table": ".analysis.design.conformance",
    "deviations_table": ".analysis.design.conformance",
    "drivers_table": ".analysis.voc.drivers",
    "Filters": ".scope",
    "funnel_dropoff_next_table": ".analysis.journeys.funnels",
    "funnel_table": ".analysis.journeys.funnels",
    "funnel_times_table": ".analysis.journeys.funnels",
    "recontact_table": ".analysis.journeys.gaps",
    "switch_gaps_table": ".analysis.journeys.gaps",
    "switch_matrix_table": ".analysis.journeys.gaps",
    "linkage_effect_table": ".analysis.stitching",
    "kpi_map_table": ".analysis.design.kpis",
    "kpi_relation_table": ".analysis.design.kpis",
    "kpi_table": ".analysis.measures",
    "kpi_tree_table": ".analysis.measures",
    "scorecard_table": ".analysis.measures",
    "paths_around_table": ".analysis.journeys.paths",
    "step_matrix_table": ".analysis.journeys.paths",
    "variants_table": ".analysis.journeys.paths",
    "lifecycle_table": ".analysis.journeys.retention",
    "retention_table": ".analysis.journeys.retention",
    "rfm_table": ".analysis.segments.rfm",
    "scores_compare_table": ".analysis.voc.scores",
    "scores_table": ".analysis.voc.scores",
    "sentiment_table": ".analysis.voc.sentiment",
    "discover_themes_table": ".analysis.voc.theme_discovery",
    "theme_impact_table": ".analysis.voc.theme_impact",
    "theme_matches": ".analysis.voc.themes",
    "themes_table": ".analysis.voc.themes",
    "clusters_table": ".analysis.segments.segments",
    "persona_clusters_table": ".analysis.segments.segments",
    "personas_table": ".analysis.segments.segments",
    "segments_table": ".analysis.segments.profiles",
    "sessions_table": ".analysis.journeys.sessions",
    "feedback_on_journey_table": ".analysis.voc.voc_journey",
    "path_contrast_table": ".analysis.voc.voc_journey",
    "hotspots_table": ".analysis.journeys.transitions",
    "transitions_table": ".analysis.journeys.transitions",
    "attribution_table": ".analysis.attribution",
    "actions_table": ".analysis.actions",
    "hazard_table": ".analysis.survival",
    "survival_table": ".analysis.survival",
    "connect": ".db",
    "design": ".designs.store",
    "design_names": ".designs.store",
    "has_design": ".designs.store",
    "business_timezone": ".designs.store",
    "languages": ".designs.store",
    "default_funnel": ".designs.defaults",
    "default_goal": ".designs.defaults",
    "instruments_present": ".designs.defaults",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'cjworkbench' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value   # the next lookup is a plain attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


from .errors import (  # noqa: E402
    WorkbenchError, ConfigError, InputFileError, MissingColumnsError, RejectedRowsError, DatabaseError,
    FilterError, DesignError, PersonaError, PrivacyError, ParameterError, RendererError, DemoOptionError,
    StatsError, KpiMapError, ThemeError, DriverError, SentimentError, ScoresError, ChartError, ControlError,
    DesignMissingError,
)

__all__ = [
    "__version__", "connect", "Filters", "WorkbenchError",
    # errors (all in cjworkbench.errors; each also inherits the matching builtin)
    "ConfigError", "InputFileError", "MissingColumnsError", "RejectedRowsError", "DatabaseError",
    "FilterError", "DesignError", "PersonaError", "PrivacyError", "ParameterError", "RendererError",
    "DemoOptionError", "StatsError", "KpiMapError", "ThemeError", "DriverError", "SentimentError",
    "ScoresError", "ChartError", "ControlError", "DesignMissingError",
    # the designs the database carries (cjworkbench.designs.store) and the defaults built on them
    "design", "design_names", "has_design", "business_timezone", "languages",
    "default_funnel", "default_goal", "instruments_present",
    # journeys (paths, graph, funnels, hand-offs, retention, sessions)
    "variants_table", "step_matrix_table", "paths_around_table", "transitions_table", "hotspots_table",
    "funnel_table", "funnel_times_table", "funnel_dropoff_next_table",
    "switch_matrix_table", "switch_gaps_table", "recontact_table",
    "retention_table", "lifecycle_table", "sessions_table",
    # identity across silos: what linking customer_ids into persons changed
    "linkage_effect_table",
    # designed vs actual, KPIs, segments
    "conformance_table", "deviations_table", "kpi_map_table", "kpi_relation_table",
    "personas_table", "clusters_table", "persona_clusters_table", "rfm_table", "segments_table",
    # voice of the customer
    "scores_table", "scores_compare_table", "sentiment_table", "themes_table", "theme_matches",
    "discover_themes_table", "theme_impact_table", "feedback_on_journey_table", "path_contrast_table",
    "drivers_table",
    # what changed
    "changes_table",
    # KPI library
    "kpi_table", "scorecard_table", "kpi_tree_table",
    # from insight to action: attribution, next-best-action back-tests, time to event
    "attribution_table", "actions_table", "survival_table", "hazard_table",
]
