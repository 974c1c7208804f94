#!/usr/bin/env bash
# A backtest recorded with curl alone, then read back: its detail and its daily.csv.
set -euo pipefail
URL=${BACKTEST_LEDGER_URL:-http://127.0.0.1:8000}
AUTH="Authorization: Bearer $BACKTEST_LEDGER_API_KEY"
BODY='{"symbol": "SPX", "interval": "1d", "strategy": "buy-and-hold", "test_mode": "backtest",
 "market_type": "equity", "initial_capital": 10000, "parameters": {"leverage": 1},
 "daily_results": [{"date": "2024-01-02", "equity": 10000},
                   {"date": "2024-01-03", "equity": 10100},
                   {"date": "2024-01-04", "equity": 10050},
                   {"date": "2024-01-05", "equity": NaN}],
 "trades": [{"entry_time": "2024-01-02T14:30:00Z", "exit_time": "2024-01-04T21:00:00Z",
             "side": "long", "entry_price": 100, "exit_price": 100.5, "quantity": 100,
             "pnl": 50, "fees": 1.5}]}'
ID=$(curl -sSf -H "$AUTH" -H 'Content-Type: application/json' -H 'Idempotency-Key: example-1' \
     --data "$BODY" "$URL/api/v1/backtests" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backtest_id"])')
echo "$ID"
curl -sSf -H "$AUTH" "$URL/api/v1/backtests/$ID" \
  | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["metrics"], indent=1))'
curl -sSf -H "$AUTH" "$URL/api/v1/backtests/$ID/daily.csv"
