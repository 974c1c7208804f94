"""The least privileges the service needs on PostgreSQL.

Migrations run as the schema's owner. The service itself can run as a role that
owns nothing and may only SELECT and INSERT on ``events``: it can neither change
nor remove an event, nor disable the append-only triggers (only an owner or a
superuser can), so the log is safe even from a compromised service.
"""

from __future__ import annotations

import sqlalchemy as sa

from infrastructure.tables import LIVE

READ_WRITE = (*(table.name for table in LIVE.tables()), "idempotency_keys", "analyses")


def service_grants(role: str) -> list[str]:
    """The GRANT statements that let ``role`` run the service (not migrations)."""
    quoted = '"' + role.replace('"', '""') + '"'
    return [
        f"GRANT USAGE ON SCHEMA {{schema}} TO {quoted}",
        f"GRANT SELECT, INSERT ON events TO {quoted}",
        f"GRANT USAGE ON SEQUENCE events_position_seq TO {quoted}",
        f"GRANT SELECT ON users, alembic_version TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(READ_WRITE)} TO {quoted}",
    ]


def grant_service_role(conn: sa.Connection, role: str) -> None:
    """Grant ``role`` what the service needs in the current schema, and nothing else."""
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    for statement in service_grants(role):
        conn.execute(sa.text(statement.format(schema=f'"{schema}"')))
