"""Process helpers the server launchers share: binaries, free ports, spawning, waiting, stopping,
and the 0600 secret files servers read their passwords from."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from launchers.polling import PollTimeout, poll_until

LOOPBACK = "127.0.0.1"


class MissingBinaryError(RuntimeError):
    """A server binary this machine lacks; tests turn it into a skip (a failure in CI)."""

    def __init__(self, binary: str, hint: str) -> None:
        super().__init__(f"{binary} not found ({hint})")
        self.binary = binary


class ServerStartError(RuntimeError):
    """A server did not become ready in time; the message carries the tail of its log."""


def find_binary(name: str, search_dirs: Sequence[str] = (), hint: str = "") -> str:
    """Return the absolute path of ``name``, looking in ``search_dirs`` first, then on PATH."""
    for directory in search_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise MissingBinaryError(name, hint or f"install the package that provides {name}")
    return found


def free_port(host: str = LOOPBACK) -> int:
    """Ask the kernel for a currently unused TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def spawn(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (its own process group), output appended to ``log_path``.

    The new session lets a caller stop the whole tree with one ``killpg`` and lets the process
    outlive the Python that started it (the devstack's ``up`` exits while the stack keeps running).
    """
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )


@dataclass
class ServerProcess:
    """A started server: its process (leader of its own process group) and log file."""

    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: signal.Signals
    stop_timeout: float = 15.0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        stop_group(self.popen.pid, self.stop_signal, self.stop_timeout, self.popen)
        self.popen.poll()


def require_stopped(process: ServerProcess | None, what: str) -> None:
    if process is not None and process.running():
        raise RuntimeError(f"{what} is already running")


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in the group.

    Zombies count as gone: once ``up`` has exited, its servers' parent is whatever adopted them, and
    that may reap late (or never, in a minimal container), which ``killpg(pgid, 0)`` cannot tell.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    return any(_live_member(stat_file, pgid) for stat_file in proc.glob("[0-9]*/stat"))


def _live_member(stat_file: Path, pgid: int) -> bool:
    try:
        stat = stat_file.read_text()
    except OSError:
        return False
    # Fields after "(comm)": state, ppid, pgrp, ... (proc(5)); comm itself may contain spaces.
    state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
    return state != "Z" and int(pgrp) == pgid


def stop_group(
    pgid: int,
    stop_signal: signal.Signals = signal.SIGTERM,
    timeout: float = 10.0,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Signal a process group, wait up to ``timeout`` for it to exit, then SIGKILL what is left."""

    def stopped() -> bool:
        return not _group_running(pgid, process)

    _signal_group(pgid, stop_signal)
    try:
        poll_until(stopped, timeout=timeout, interval=0.05, message=f"group {pgid} still running")
    except PollTimeout:
        _signal_group(pgid, signal.SIGKILL)
        # Best effort: a process stuck in the kernel (D state) outlives SIGKILL for a while.
        with contextlib.suppress(PollTimeout):
            poll_until(stopped, timeout=5.0, interval=0.05, message="survived SIGKILL")


def _group_running(pgid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None and process.poll() is None:
        return True
    return group_alive(pgid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def wait_until_ready(
    probe: Callable[[], bool],
    process: subprocess.Popen[bytes],
    log_path: Path,
    what: str,
    timeout: float = 30.0,
) -> None:
    """Poll ``probe`` until it is true; fail early, with the log tail, if the process dies."""

    def ready() -> bool:
        if process.poll() is not None:
            raise ServerStartError(
                f"{what} exited with {process.returncode}:\n{log_tail(log_path)}"
            )
        return probe()

    try:
        poll_until(ready, timeout=timeout, message=f"{what} not ready after {timeout:.0f}s")
    except PollTimeout as error:
        raise ServerStartError(f"{error}:\n{log_tail(log_path)}") from None


def log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def generate_password() -> str:
    """A URL-safe random password (never logged, never on a command line)."""
    return secrets.token_urlsafe(32)


def write_secret(path: Path, value: str, owner: str | None = None) -> Path:
    """Write ``value`` to ``path``, readable by its owner only (0600), chowned to ``owner``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
    if owner is not None:
        shutil.chown(path, owner, owner)
    return path


def run_checked(
    argv: Sequence[str], env: Mapping[str, str] | None, what: str, timeout: float = 120
) -> None:
    """Run a short command to completion; raise with its output if it fails."""
    result = subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
