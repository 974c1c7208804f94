"""Read models of backtest-ledger: the projector, queries, rebuild/verify, CSV exports."""
