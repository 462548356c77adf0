"""cjworkbench: customer-journey analytics on one embedded DuckDB model.

Every analysis is `<concept>_table(con, *, ...) -> pandas.DataFrame` over `connect()`'s Ibis
backend, with its definition in `df.attrs["definition"]`.
"""

from .version import __version__  # noqa: E402

from .analysis.changes.changes import changes_table  # noqa: E402
from .analysis.design.conformance import conformance_table, deviations_table  # noqa: E402
from .analysis.voc.drivers import drivers_table  # noqa: E402
from .scope import Filters  # noqa: E402
from .analysis.journeys.funnels import funnel_dropoff_next_table, funnel_table, funnel_times_table  # noqa: E402
from .analysis.journeys.gaps import recontact_table, switch_gaps_table, switch_matrix_table  # noqa: E402
from .analysis.design.kpis import kpi_map_table, kpi_relation_table  # noqa: E402
from .analysis.measures import kpi_table, kpi_tree_table, scorecard_table  # noqa: E402
from .analysis.journeys.paths import paths_around_table, step_matrix_table, variants_table  # noqa: E402
from .analysis.journeys.retention import lifecycle_table, retention_table  # noqa: E402
from .analysis.segments.rfm import rfm_table  # noqa: E402
from .analysis.voc.scores import scores_compare_table, scores_table  # noqa: E402
from .analysis.voc.sentiment import sentiment_table  # noqa: E402
from .analysis.voc.theme_discovery import discover_themes_table  # noqa: E402
from .analysis.voc.theme_impact import theme_impact_table  # noqa: E402
from .analysis.voc.themes import theme_matches, themes_table  # noqa: E402
from .analysis.segments.segments import clusters_table, persona_clusters_table, personas_table  # noqa: E402
from .analysis.journeys.sessions import sessions_table  # noqa: E402
from .analysis.voc.voc_journey import feedback_on_journey_table, path_contrast_table  # noqa: E402
from .analysis.journeys.transitions import hotspots_table, transitions_table  # noqa: E402
from .analysis.attribution import attribution_table  # noqa: E402
from .analysis.actions import actions_table  # noqa: E402
from .analysis.survival import hazard_table, survival_table  # noqa: E402
from .db import connect  # noqa: E402
from .errors import (  # noqa: E402
    WorkbenchError, ConfigError, InputFileError, MissingColumnsError, RejectedRowsError, DatabaseError,
    FilterError, DesignError, PersonaError, PrivacyError, ParameterError, RendererError, DemoOptionError,
    StatsError, KpiMapError, ThemeError, DriverError, SentimentError, ScoresError, ChartError, ControlError,
)

__all__ = [
    "__version__", "connect", "Filters", "WorkbenchError",
    # errors (all in cjworkbench.errors; each also inherits the matching builtin)
    "ConfigError", "InputFileError", "MissingColumnsError", "RejectedRowsError", "DatabaseError",
    "FilterError", "DesignError", "PersonaError", "PrivacyError", "ParameterError", "RendererError",
    "DemoOptionError", "StatsError", "KpiMapError", "ThemeError", "DriverError", "SentimentError",
    "ScoresError", "ChartError", "ControlError",
    # journeys (paths, graph, funnels, hand-offs, retention, sessions)
    "variants_table", "step_matrix_table", "paths_around_table", "transitions_table", "hotspots_table",
    "funnel_table", "funnel_times_table", "funnel_dropoff_next_table",
    "switch_matrix_table", "switch_gaps_table", "recontact_table",
    "retention_table", "lifecycle_table", "sessions_table",
    # designed vs actual, KPIs, segments
    "conformance_table", "deviations_table", "kpi_map_table", "kpi_relation_table",
    "personas_table", "clusters_table", "persona_clusters_table", "rfm_table",
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
