"""The pure core of backtest-ledger: commands, events, the decider, results and metrics.

Nothing in this package touches a database, the network or a web framework.
"""
