"""Storage for backtest-ledger: settings, engine, schema, the event store, users."""
