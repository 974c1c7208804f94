"""``Analysis``: an experiment's analysis as the client returns it, its figures as
Python values and its per-variant and histogram tables as DataFrames."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Analysis:
    """Where an analysis stands and, once ``status == "done"``, its figures.

    ``variants`` has a row per variant analysed (``backtest_id``, ``in_stepm``: it beats
    the benchmark, ``in_mcs``: it cannot be told from the best, None for a sweep wider
    than the Model Confidence Set is computed for, ``neighbour_sharpe``);
    ``lambdas`` is the histogram of CSCV's logits (``left``, ``right``, ``count``)."""

    analysis_id: str
    experiment: str
    status: str
    progress: float
    error: str | None = None
    pbo: float | None = None
    probability_of_loss: float | None = None
    degradation: dict[str, float | None] = field(default_factory=dict)
    spa: dict[str, float] = field(default_factory=dict)
    reality_check: float | None = None
    plateau_ratio: float | None = None
    variants: pd.DataFrame = field(default_factory=pd.DataFrame)
    lambdas: pd.DataFrame = field(default_factory=pd.DataFrame)
    result: dict[str, Any] | None = None  # the whole result, as the API gives it


def analysis_of(document: dict[str, Any]) -> Analysis:
    """An ``Analysis`` from the API's JSON."""
    result = document.get("result")
    base = {name: document[name] for name in ("analysis_id", "experiment", "status", "progress")}
    if result is None:
        return Analysis(**base, error=document.get("error"))
    ids = result["matrix"]["backtest_ids"]
    ability, stability, pbo = result["superior_ability"], result["stability"], result["pbo"]
    variants = pd.DataFrame({
        "backtest_id": ids,
        "in_stepm": [i in ability["stepm"] for i in ids],
        "in_mcs": [None if ability["mcs"] is None else i in ability["mcs"] for i in ids],
        "neighbour_sharpe": [None if stability is None else stability["neighbour_sharpe"][i]
                             for i in ids],
    })  # fmt: skip
    edges = pbo["histogram_edges"]
    lambdas = pd.DataFrame({"left": edges[:-1], "right": edges[1:],
                            "count": pbo["histogram_counts"]})  # fmt: skip
    return Analysis(
        **base, pbo=pbo["pbo"], probability_of_loss=pbo["probability_of_loss"],
        degradation=pbo["degradation"], spa=ability["spa"],
        reality_check=ability["reality_check"],
        plateau_ratio=None if stability is None else stability["plateau_ratio"],
        variants=variants, lambdas=lambdas, result=result,
    )  # fmt: skip
