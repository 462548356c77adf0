"""The headline figures of the journey explorer, personas and segments, designed vs actual and actions
pages (`pages.FIGURES`), read from the tables those pages' charts show."""

from __future__ import annotations

from ...formats import share
from . import attempt, figure, kept, missing, name_of, pick, table_result


def journey_explorer(con, filters, k_min, options):
    """How many journeys, their median duration, and the share of the most common one."""
    from ..journeys.paths import variants_table
    from ...scope import scope

    def build():
        v = table_result(con, variants_table, filters, **pick(options, "top"))
        n = int(v.attrs.get("definition", {}).get("n_journeys", 0))
        ev = scope(con, filters, unit="journey").events()
        per = ev.group_by("journey_key").aggregate(s=(ev.event_ts.max().epoch_seconds()
                                                      - ev.event_ts.min().epoch_seconds()))
        median = per.s.median().execute()
        rows = [figure("n_journeys", "Journeys", n, kind="count", source="variants_table"),
                figure("median_duration", "Median journey duration", median, kind="duration",
                       detail="first to last event of a journey", source="events")]
        common = kept(v, k_min, "n_customers")
        if common.empty:
            rows.append(missing("top_variant", "Most common journey", f"No journey is taken by {k_min} or more "
                                "customers.", source="variants_table"))
        else:
            r = common.iloc[0]
            text = name_of(con, r["variant"])
            rows.append(figure("top_variant", "Most common journey", r["share"], kind="share",
                               detail=text if len(text) <= 80 else text[:79] + "…", source="variants_table"))
        return rows

    return attempt("n_journeys", "Journeys", build, source="variants_table")


def personas_and_segments(con, filters, k_min, options):
    """The persona and measure that differ most from everyone else (significant differences only)."""
    from ..segments.segments import personas_table

    def build():
        if options.get("personas") is None:
            return [missing("persona_difference", "Persona that differs most", "The database carries no personas "
                            "design (add `personas:` under `designs:` in the config).", source="personas_table")]
        p = kept(table_result(con, personas_table, filters, **pick(options, "personas")), k_min, "n_customers")
        p = p[(p["measure"] != "customers") & (p["p_value"] < 0.05)] if not p.empty else p
        shares = p[(p["value"].between(0, 1)) & (p["rest_value"].between(0, 1))] if not p.empty else p
        if shares.empty:
            return [missing("persona_difference", "Persona that differs most", "No persona differs from the other "
                            "customers beyond chance.", source="personas_table")]
        r = shares.loc[shares["difference"].abs().idxmax()]
        return [figure("persona_difference", f"{r['persona']}: {r['measure']} {r['category']}", r["difference"],
                       kind="points", low=r["difference_low"], high=r["difference_high"], p_value=r["p_value"],
                       difference=True, detail=f"{share(r['value'])} against {share(r['rest_value'])} for everyone "
                       "else", source="personas_table")]

    return attempt("persona_difference", "Persona that differs most", build, source="personas_table")


def designed_vs_actual(con, filters, k_min, options):
    """The share of journeys that follow the design, and the most common deviation."""
    from ..design.conformance import conformance_table, deviations_table

    def build():
        if options.get("design") is None:
            return [missing("conformance", "Journeys that follow the design", "The database carries no journeys "
                            "design (add `journeys:` under `designs:` in the config).", source="conformance_table")]
        c = table_result(con, conformance_table, filters, **pick(options, "design", "personas"))
        if c["customer_id"].nunique() < k_min:
            return [missing("conformance", "Journeys that follow the design", f"Fewer than {k_min} customers "
                            "started the designed journey.", source="conformance_table")]
        rows = [figure("conformance", "Journeys that follow the design", 1 - c["deviating"].astype(bool).mean(),
                       kind="share", better="higher", detail=f"of {len(c):,} journeys", source="conformance_table")]
        d = kept(table_result(con, deviations_table, filters, **pick(options, "design", "personas", "outcome", "by")),
                  k_min, "n_deviating")
        d = d[d["step"] != "(any step)"] if not d.empty else d
        if d.empty:
            rows.append(missing("top_deviation", "Most common deviation", f"No deviation is made by {k_min} or more "
                                "customers.", source="deviations_table"))
            return rows
        r = d.loc[d["n_deviating"].idxmax()]
        impact = (f"; {options.get('outcome', 'completion')} {r['impact'] * 100:+.1f} points against conforming "
                  "journeys" if r["impact"] == r["impact"] and abs(r["impact"]) <= 1 else "")
        rows.append(figure("top_deviation", f"Most common deviation: {str(r['category']).replace('_', ' ')} "
                           f"{name_of(con, r['step'])}", r["deviation_rate"], kind="share", better="lower",
                           detail=f"{int(r['n_deviating']):,} journeys{impact}", source="deviations_table"))
        return rows

    return attempt("conformance", "Journeys that follow the design", build, source="conformance_table")


def actions(con, filters, k_min, options):
    """The back-tested rule with the largest effect on reaching the outcome."""
    from ..actions import actions_table

    def build():
        a = kept(table_result(con, actions_table, filters, **pick(options, "rules", "n_resamples")), k_min,
                 "n_customers")
        a = a[a["estimate"].notna()] if not a.empty else a
        if a.empty:
            return [missing("best_rule", "Rule with the largest effect", f"No rule triggered for {k_min} or more "
                            "customers.", source="actions_table")]
        r = a.loc[a["estimate"].abs().idxmax()]
        return [figure("best_rule", f"Rule: {r['rule']}", r["estimate"], kind="points", low=r["low"], high=r["high"],
                       p_value=r["p_value"], better="higher", difference=True,
                       detail=f"{share(r['rate_exposed'])} reach the outcome when it triggered, "
                              f"{share(r['rate_control'])} otherwise", source="actions_table")]

    return attempt("best_rule", "Rule with the largest effect", build, source="actions_table")
