"""Sentiment against the labelled airline tweets: accuracy, macro-F1, per-class F1, confusion
matrix, the majority-class baseline, and throughput, for plain VADER and VADER + the CX lexicon.

    .venv/bin/python benchmarks/sentiment.py              # needs ../shared/data/real/voc/
    .venv/bin/python benchmarks/sentiment.py --others     # also TextBlob / AFINN when importable

The tweets are ingested with examples/real/airline_tweets.yml (texts redacted as at any ingest);
the gold label is feedback.attributes['airline_sentiment']. Figures are given on all 14,640 tweets
and on two halves by the parity of the tweet's _unit_id: the CX lexicon was revised after looking
at errors of the even half only, so the odd half is the held-out estimate.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["negative", "neutral", "positive"]


def load(tmp: Path) -> pd.DataFrame:
    import duckdb

    from cjworkbench.ingest import run_ingest

    db = tmp / "tweets.duckdb"
    run_ingest(ROOT / "examples" / "real" / "airline_tweets.yml", db)
    return duckdb.connect(str(db), read_only=True).sql(
        "SELECT feedback_id, text, attributes['airline_sentiment'] AS gold FROM feedback").df()


def report(name: str, gold: pd.Series, pred, seconds: float | None = None) -> None:
    pred = np.asarray(pred, dtype=object)
    print(f"\n== {name}" + (f"  ({len(gold) / seconds:,.0f} texts/s, cold)" if seconds else ""))
    halves = {"all": np.ones(len(gold), bool), "held-out (odd)": gold.index.to_series().pipe(lambda s: s % 2 == 1).to_numpy(),
              "dev (even)": gold.index.to_series().pipe(lambda s: s % 2 == 0).to_numpy()}
    for part, m in halves.items():
        g, p = gold[m], pred[m]
        per = f1_score(g, p, labels=LABELS, average=None)
        print(f"{part:15s} n={m.sum():6,d}  accuracy {accuracy_score(g, p):.4f}  macro-F1 "
              f"{f1_score(g, p, average='macro'):.4f}  F1 " + " ".join(f"{lab} {v:.3f}" for lab, v in zip(LABELS, per)))
    cm = pd.DataFrame(confusion_matrix(gold, pred, labels=LABELS), index=[f"gold {x}" for x in LABELS],
                      columns=[f"pred {x}" for x in LABELS])
    print(cm.to_string())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--others", action="store_true", help="also TextBlob and AFINN, if installed")
    args = ap.parse_args()
    from cjworkbench.analysis import sentiment as s

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        df = load(Path(tmp))
        print(f"ingest: {len(df):,} tweets in {time.perf_counter() - t:.1f} s")
    gold = pd.Series(df.gold.to_numpy(), index=df.feedback_id.astype("int64").to_numpy())
    print("majority class (negative): accuracy "
          f"{(gold == 'negative').mean():.4f} (held-out {(gold[gold.index % 2 == 1] == 'negative').mean():.4f}), "
          f"macro-F1 {f1_score(gold, ['negative'] * len(gold), average='macro'):.4f}")
    print("class shares:", (gold.value_counts(normalize=True).round(4)).to_dict())
    for lexicon in ("vader", "cx"):
        s._scorer.cache_clear()
        t = time.perf_counter()
        compound = s.score_texts(df.text, lexicon=lexicon)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        s.score_texts(df.text, lexicon=lexicon)
        warm = time.perf_counter() - t
        report(f"{lexicon}: {'VADER + CX lexicon' if lexicon == 'cx' else 'plain VADER 3.3.2'} (warm cache "
               f"{len(df) / warm:,.0f} texts/s)", gold, s.sentiment_labels(compound), cold)
    if args.others:
        others(df, gold)


def others(df: pd.DataFrame, gold: pd.Series) -> None:
    """Other lexicon models that ship their lexicon in the wheel (not dependencies of cjworkbench)."""
    clean = [re.sub(r"\[user\]|@\w+|https?://\S+", " ", t) for t in df.text]
    lab = lambda c: np.where(np.asarray(c) > 0, "positive", np.where(np.asarray(c) < 0, "negative", "neutral"))
    try:
        from textblob import TextBlob

        t = time.perf_counter()
        c = [TextBlob(x).sentiment.polarity for x in clean]
        report("TextBlob 0.20 (pattern lexicon), sign of polarity", gold, lab(c), time.perf_counter() - t)
    except ImportError:
        print("TextBlob not installed", file=sys.stderr)
    try:
        from afinn import Afinn

        af, t = Afinn(emoticons=True), time.perf_counter()
        c = [af.score(x) for x in clean]
        report("AFINN 0.1, sign of the score", gold, lab(c), time.perf_counter() - t)
    except ImportError:
        print("afinn not installed", file=sys.stderr)


if __name__ == "__main__":
    main()
