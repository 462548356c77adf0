"""Charts: pure functions `<concept>_chart(table, **options) -> Altair chart` over the DataFrames
the `*_table` analyses return. Each shows the result's definition as a caption under it, leaves
out groups suppressed by `cjworkbench.privacy.suppress_small` (counted in the caption) and uses
the workbench theme (`use_theme`), enabled on first use, never at import.
"""

from .changes import changes_chart
from .designed import conformance_chart, deviations_chart
from .funnels import dropoff_next_chart, funnel_chart, funnel_times_chart
from .gaps import switch_gaps_chart, switch_matrix_chart
from .journeys import hotspots_chart, paths_chart, step_matrix_chart, variants_chart
from .process_map import process_map_chart, process_map_layout
from .retention import lifecycle_chart, retention_chart
from .theme import ChartError, definition_caption, use_theme
from .voc import drivers_chart, score_trend_chart, sentiment_chart, theme_impact_chart

__all__ = [
    "process_map_chart", "process_map_layout", "step_matrix_chart", "variants_chart", "paths_chart", "hotspots_chart",
    "funnel_chart", "funnel_times_chart", "dropoff_next_chart", "switch_matrix_chart", "switch_gaps_chart",
    "deviations_chart", "conformance_chart", "retention_chart", "lifecycle_chart",
    "score_trend_chart", "drivers_chart", "theme_impact_chart", "sentiment_chart", "changes_chart",
    "use_theme", "definition_caption", "ChartError",
]
