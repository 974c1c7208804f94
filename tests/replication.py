"""A real PostgreSQL primary and a real hot standby on this machine, for the replica
tests: ``initdb`` and ``pg_ctl`` for the primary (``ThrowawayCluster``), then
``pg_basebackup -R`` of it streaming into a standby on a port of its own. Both throw
their data away, so ``fsync`` is off."""

from __future__ import annotations

import time

import psycopg

from tests.postgres_server import ThrowawayCluster, _free_port


class ReplicatedPair:
    def __init__(self) -> None:
        self.primary = ThrowawayCluster()
        self.standby_data = self.primary.root / "standby"
        self.standby_port = _free_port()
        self.primary_url = self.standby_url = ""

    def _standby_options(self) -> str:
        return (
            f"-p {self.standby_port} -k {self.primary.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c hot_standby_feedback=on"
        )

    def start(self) -> tuple[str, str]:
        self.primary_url = self.primary.start()
        bindir, run = self.primary.bindir, self.primary._run
        run(str(bindir / "pg_basebackup"), "-D", str(self.standby_data), "-R", "-X", "stream",
            "-c", "fast",  # checkpoint now, not spread over minutes
            "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres")  # fmt: skip
        self.start_standby()
        self.standby_url = self.primary_url.replace(
            f":{self.primary.port}/", f":{self.standby_port}/"
        )
        return self.primary_url, self.standby_url

    def start_standby(self) -> None:
        self.primary._run(
            str(self.primary.bindir / "pg_ctl"), "-D", str(self.standby_data),
            "-o", self._standby_options(), "-l", str(self.primary.root / "standby.log"),
            "-w", "start",
        )  # fmt: skip

    def stop_standby(self) -> None:
        self.primary._run(str(self.primary.bindir / "pg_ctl"), "-D", str(self.standby_data),
                          "-m", "fast", "stop")  # fmt: skip

    def _standby(self, statement: str) -> None:
        dsn = f"postgresql://postgres@127.0.0.1:{self.standby_port}/test"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement)

    def pause_replay(self) -> None:
        self._standby("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self._standby("SELECT pg_wal_replay_resume()")

    def caught_up(self, timeout: float = 30) -> None:
        """Wait until the standby has replayed everything the primary has written."""
        primary = f"postgresql://postgres@127.0.0.1:{self.primary.port}/test"
        standby = f"postgresql://postgres@127.0.0.1:{self.standby_port}/test"
        with psycopg.connect(primary, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
        assert row is not None
        deadline = time.monotonic() + timeout
        with psycopg.connect(standby, autocommit=True) as conn:
            while time.monotonic() < deadline:
                done = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
                ).fetchone()
                if done and done[0]:
                    return
                time.sleep(0.05)
        raise AssertionError("the standby did not catch up")

    def stop(self) -> None:
        try:
            if self.standby_data.exists():
                self.primary._run(str(self.primary.bindir / "pg_ctl"), "-D",
                                  str(self.standby_data), "-m", "immediate", "stop")  # fmt: skip
        except Exception:  # already stopped
            pass
        finally:
            self.primary.stop()  # removes the folder, the standby's data inside it
