"""The embedded default: a private PostgreSQL 15 + PostGIS cluster in a project folder.

With no ``DATABASE_URL`` the CLI runs this cluster from Debian's binaries,
listening on loopback only; the tests, the crash drill and the benchmarks run
throwaway ones (:func:`throwaway_cluster`). PostgreSQL refuses to run
as root, so under root the server runs as the ``postgres`` system user that
Debian's package creates, and owns only the cluster folder.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_MAJOR = 15
DEBIAN_PACKAGES = (f"postgresql-{PG_MAJOR}", f"postgresql-{PG_MAJOR}-postgis-3")
SUPERUSER = "estate"
DATABASE = "estate"


class EmbeddedPostgresError(RuntimeError):
    """The embedded cluster could not be installed, created or started."""


def install_command() -> str:
    return "sudo apt-get update && sudo apt-get install -y " + " ".join(DEBIAN_PACKAGES)


def find_bin_dir(explicit: Path | None = None) -> Path | None:
    """Return the folder of the PostgreSQL binaries, if PostgreSQL and PostGIS are installed."""
    candidates = [explicit] if explicit else [Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
    postgis = Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/postgis.control")
    for bin_dir in candidates:
        if bin_dir and (bin_dir / "initdb").exists() and (explicit or postgis.exists()):
            return bin_dir
    return None


def ensure_installed(explicit: Path | None = None) -> Path:
    """Return the binaries folder, installing the Debian packages first when root."""
    bin_dir = find_bin_dir(explicit)
    if bin_dir:
        return bin_dir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise EmbeddedPostgresError(
            "PostgreSQL 15 with PostGIS is not installed. Install it with:\n  " + install_command()
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES], check=True, env=env)
    bin_dir = find_bin_dir(explicit)
    if bin_dir is None:
        raise EmbeddedPostgresError("PostgreSQL was installed but its binaries were not found")
    return bin_dir


@dataclass(frozen=True)
class EmbeddedCluster:
    """A cluster folder, its port and its binaries."""

    root: Path
    port: int
    bin_dir: Path
    fast_unsafe: bool = False  # fsync off: for throwaway test clusters only

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    def url(self) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql+psycopg://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{DATABASE}"

    # -- running binaries as a non-root user ------------------------------------------------
    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise EmbeddedPostgresError("running as root needs the 'postgres' system user") from exc
        return "postgres"

    def _cmd(self, *args: str) -> list[str]:
        user = self._run_as()
        return ["runuser", "-u", user, "--", *args] if user else list(args)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._cmd(*args), check=check, capture_output=True, text=True)

    def _chown(self, path: Path) -> None:
        user = self._run_as()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    # -- lifecycle --------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster folder with a random superuser password, loopback only."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        pwfile = self.root / ".initdb-pw"
        pwfile.write_text(self.password_file.read_text())
        for path in (self.root, self.socket_dir, pwfile):
            self._chown(path)
        try:
            result = self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed:\n{result.stderr}")
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.socket_dir}'",
            "max_connections = 200",
            "shared_buffers = 256MB",
            "work_mem = 32MB",
            "maintenance_work_mem = 256MB",
            "max_wal_size = 2GB",
        ]
        if self.fast_unsafe:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")

    def running(self) -> bool:
        if not self.initialised():
            return False
        result = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status", check=False)
        return result.returncode == 0

    def start(self) -> None:
        """Create (first use) and start the cluster, then make sure the database exists."""
        if not self.initialised():
            self.init()
        if not self.running():
            result = self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if result.returncode != 0:
                tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
                raise EmbeddedPostgresError(f"could not start PostgreSQL:\n{result.stderr}\n{tail}")
        self._ensure_database()

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """Kill the postmaster and its children at once, as a crash would."""
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().splitlines()[0])
            subprocess.run(["kill", "-9", str(pid)], check=False)
            for child in subprocess.run(
                ["pgrep", "-P", str(pid)], capture_output=True, text=True
            ).stdout.split():
                subprocess.run(["kill", "-9", child], check=False)
            deadline = time.monotonic() + 10
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.1)

    def _ensure_database(self) -> None:
        env = dict(os.environ, PGPASSWORD=self.password_file.read_text().strip())
        psql = [str(self.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER]
        exists = subprocess.run(
            [*psql, "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
            capture_output=True,
            text=True,
            env=env,
        )
        if exists.returncode != 0:
            raise EmbeddedPostgresError(f"cannot connect to the embedded cluster: {exists.stderr}")
        if exists.stdout.strip() != "1":
            subprocess.run(
                [*psql, "-d", "postgres", "-c", f"CREATE DATABASE {DATABASE}"],
                check=True,
                capture_output=True,
                env=env,
            )


def free_port() -> int:
    """A loopback port free right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def throwaway_cluster(prefix: str = "estate-pg-", *, fast_unsafe: bool = True) -> Iterator[EmbeddedCluster]:
    """A started cluster in a temporary folder on a free port, removed afterwards.

    ``fast_unsafe`` turns fsync off (tests, benchmarks); a crash drill wants it on.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = EmbeddedCluster(
        root=root, port=free_port(), bin_dir=ensure_installed(), fast_unsafe=fast_unsafe
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
