"""A private image registry on this machine (Debian's ``docker-registry``, Distribution 2.8), over
TLS, trusted by every dockerd here without a restart.

Nodes of a Swarm pull a service's image themselves, so an image built on the main engine reaches a
worker node through a registry both can reach: listen on the worker link's host address.

    with WorkerNode() as node, Registry(node.host_address) as registry:
        reference = f"{registry.address}/probe:1"

dockerd reads ``/etc/docker/certs.d/<host>:<port>/ca.crt`` on each connection to that registry, so
installing the certificate there is enough for the main engine and the worker node alike (both
run in the host's mount namespace). Teardown removes exactly that directory, the process and its
storage.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from launchers.processes import (
    ServerProcess,
    find_binary,
    free_port,
    spawn,
    wait_until_ready,
)
from launchers.tls import self_signed_certificate
from tests.support.started import StartStop

DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class Registry(StartStop):
    """``docker-registry`` listening on ``host:port`` (a free port when none is given)."""

    host: str
    port: int = 0
    _process: ServerProcess | None = field(default=None, init=False, repr=False)
    _directory: Path | None = field(default=None, init=False, repr=False)
    _trust_directory: Path | None = field(default=None, init=False, repr=False)

    @property
    def address(self) -> str:
        """``host:port``, the prefix of this registry's image references."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    @property
    def ca_file(self) -> Path:
        """The certificate clients verify the registry with (for requests' ``verify``)."""
        return self._working_directory / "ca.crt"

    @property
    def log_path(self) -> Path:
        return self._working_directory / "registry.log"

    @property
    def _working_directory(self) -> Path:
        if self._directory is None:
            raise RuntimeError("the registry has not been started")
        return self._directory

    def start(self) -> Registry:
        if self._process is not None:
            raise RuntimeError(f"the registry on {self.address} is already running")
        binary = find_binary("docker-registry", hint="apt-get install docker-registry")
        if self.port == 0:
            self.port = free_port(self.host)
        self._directory = Path(tempfile.mkdtemp(prefix="microstack-registry-"))
        config_file = self._write_config()
        self._install_trust()
        popen = spawn([binary, "serve", str(config_file)], self.log_path)
        self._process = ServerProcess(popen, self.log_path, signal.SIGTERM, STOP_TIMEOUT_SECONDS)
        what = f"registry on {self.address}"
        wait_until_ready(self._answers, popen, self.log_path, what, START_TIMEOUT_SECONDS)
        return self

    def stop(self) -> None:
        """Stop the registry and remove its storage and its trust directory; safe to call twice."""
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self._trust_directory is not None:
            shutil.rmtree(self._trust_directory, ignore_errors=True)
            self._trust_directory = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def _write_config(self) -> Path:
        # One certificate that is its own CA (launchers/tls.py): Go and OpenSSL both accept a trust
        # anchor that is the server's certificate itself, and there is no other key to keep.
        certificate = self_signed_certificate((self.host,), valid_days=2)
        self.ca_file.write_text(certificate.certificate_pem)
        key_file = self._working_directory / "registry.key"
        key_file.touch(mode=0o600)
        key_file.write_text(certificate.private_key_pem)
        storage = self._working_directory / "storage"
        storage.mkdir()
        config = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {
                "addr": self.address,
                # Fixed per run: without one each start makes its own and logs a warning.
                "secret": secrets.token_urlsafe(32),
                "tls": {"certificate": str(self.ca_file), "key": str(key_file)},
            },
        }
        config_file = self._working_directory / "config.yml"
        config_file.write_text(yaml.safe_dump(config))
        return config_file

    def _install_trust(self) -> None:
        trust_directory = DOCKER_CERTS_DIR / self.address
        # Never take over (and later delete) a directory this registry did not create.
        trust_directory.mkdir(parents=True, exist_ok=False)
        self._trust_directory = trust_directory
        shutil.copyfile(self.ca_file, trust_directory / "ca.crt")

    def _answers(self) -> bool:
        try:
            response = requests.get(f"{self.url}/v2/", verify=str(self.ca_file), timeout=2)
        except requests.RequestException:
            return False
        return response.status_code == 200
