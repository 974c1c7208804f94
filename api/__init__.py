"""The outer layer: command handlers shared by HTTP and CLI, the Litestar app, the CLI."""
