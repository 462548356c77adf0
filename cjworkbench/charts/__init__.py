"""Charts: pure functions `<concept>_chart(table, **options) -> Altair chart` over the DataFrames
the `*_table` analyses return. Each shows the result's definition as a caption under it, leaves
out groups suppressed by `cjworkbench.privacy.suppress_small` (counted in the caption) and uses
the workbench theme (`use_theme`), enabled on first use, never at import.

One name per concept: the chart of `X_table` is `X_chart`. The names before 0.2
(`process_map_chart`, `paths_chart`, `dropoff_next_chart`, `score_trend_chart`) still work, with a
DeprecationWarning, until 0.3; they are not in `__all__`.
"""

from .actions import actions_chart
from .attribution import attribution_chart
from .changes import changes_chart
from .designed import conformance_chart, deviations_chart
from .funnels import dropoff_next_chart, funnel_chart, funnel_dropoff_next_chart, funnel_times_chart  # noqa: F401
from .gaps import switch_gaps_chart, switch_matrix_chart
from .journeys import hotspots_chart, paths_around_chart, paths_chart, step_matrix_chart, variants_chart  # noqa: F401
from .process_map import process_map_chart, process_map_layout, transitions_chart  # noqa: F401
from .retention import lifecycle_chart, retention_chart
from .survival import hazard_chart, survival_chart
from .scorecard import scorecard_chart
from .theme import ChartError, definition_caption, use_theme
from .voc import drivers_chart, score_trend_chart, scores_chart, sentiment_chart, theme_impact_chart  # noqa: F401

__all__ = [
    "transitions_chart", "process_map_layout", "step_matrix_chart", "variants_chart", "paths_around_chart",
    "hotspots_chart", "funnel_chart", "funnel_times_chart", "funnel_dropoff_next_chart", "switch_matrix_chart",
    "switch_gaps_chart", "deviations_chart", "conformance_chart", "retention_chart", "lifecycle_chart",
    "scores_chart", "drivers_chart", "theme_impact_chart", "sentiment_chart", "changes_chart",
    "attribution_chart", "actions_chart", "survival_chart", "hazard_chart",
    "scorecard_chart",
    "use_theme", "definition_caption", "ChartError",
]
