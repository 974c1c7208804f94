"""What an adapter says when a library's run ends with trades still open: the ledger
records closed trades only (a trade is kept with its exit), so those are left out, and
their result is only in the equity."""

from __future__ import annotations

import warnings


class OpenTradesLeftOut(UserWarning):
    """Trades still open at the end of a run were not recorded."""


def warn_of_open_trades(count: int, library: str) -> None:
    if count:
        warnings.warn(
            f"{count} trade(s) still open at the end of the {library} run are not recorded: "
            "the ledger keeps closed trades (an open one's result is only in the equity)",
            OpenTradesLeftOut,
            stacklevel=4,  # the caller of Ledger.record_<library>
        )
