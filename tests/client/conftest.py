"""A ``Ledger`` on the real app (its test client, over both stores), and the market
data the adapters' tests run the libraries on: S&P 500 daily bars shipped with arch."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest_ledger import Ledger, RetryPolicy
from tests.api.conftest import Api, analysing_api, api  # noqa: F401 - the fixtures, shared

# retries without sleeping seconds: the waits themselves are not what is tested here
QUICK = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05)


@pytest.fixture
def ledger(api: Api) -> Ledger:  # noqa: F811 - the imported fixture
    return Ledger(api_key=api.keys["alice"], client=api.client, retry=QUICK)


@pytest.fixture
def analysing_ledger(analysing_api: Api) -> Ledger:  # noqa: F811 - the imported fixture
    """``ledger`` on a service that runs its analyses."""
    return Ledger(api_key=analysing_api.keys["alice"], client=analysing_api.client, retry=QUICK)


@pytest.fixture(scope="session")
def sp500() -> pd.DataFrame:
    import arch.data.sp500

    return arch.data.sp500.load()
