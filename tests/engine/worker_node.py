"""A second Docker engine on this machine, for Swarm tests that need a real worker node.

The node is a network namespace joined to the host by a veth pair, with its own dockerd started in
it through ``nsenter`` (``ip netns exec`` remounts /sys and dockerd then fails with "Devices cgroup
isn't mounted"). Host and node reach each other directly on the veth subnet, which is all Swarm
needs (TCP 2377, TCP/UDP 7946, UDP 4789 between the advertise addresses): no forwarding, no NAT and
no firewall rule on the host. The namespace deliberately has no default route, so nothing it runs
can send traffic beyond the host.

    with WorkerNode() as node:
        main.swarm.init(advertise_addr=node.host_address)
        node.client.swarm.join([f"{node.host_address}:2377"], token, advertise_addr=node.address)

Teardown removes what the node made and only that: its processes (dockerd, its containerd, shims,
docker-proxy, containers), the mounts dockerd leaves under its directories, its cgroups, its
directories, the veth pair and the namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image

from launchers.polling import PollTimeout, poll_until
from launchers.processes import (
    ServerProcess,
    find_binary,
    run_checked,
    spawn,
    wait_until_ready,
)
from tests.support.binaries import binaries_required
from tests.support.started import StartStop

NETNS_DIR = Path("/var/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
MOUNTINFO = Path("/proc/self/mountinfo")
NAME_PREFIX = "microstack-"
LINK_PREFIX = "mstack-"
START_TIMEOUT_SECONDS = 60.0
# An idle dockerd stops in well under a second, but waits up to 10 s for each container that
# ignores SIGTERM: the node is thrown away, so after this it is killed and its leftovers with it.
STOP_TIMEOUT_SECONDS = 5.0
LEFTOVER_TIMEOUT_SECONDS = 10.0
CLIENT_TIMEOUT_SECONDS = 600
# Away from Docker's defaults (172.17.0.0/16 and up; 10.0.0.0/24 and up for Swarm overlays).
DEFAULT_LINK = ipaddress.IPv4Network("10.231.0.0/24")
DEFAULT_BRIDGE = ipaddress.IPv4Network("10.231.1.0/24")
DEFAULT_ADDRESS_POOL = ipaddress.IPv4Network("10.231.128.0/17")


@dataclass(frozen=True)
class WorkerNetwork:
    """The node's address plan: ``link`` joins it to the host, ``bridge`` is its docker0, and its
    dockerd takes the networks it creates itself (docker_gwbridge when it joins a swarm, user
    networks) from ``address_pool``."""

    link: ipaddress.IPv4Network = DEFAULT_LINK
    bridge: ipaddress.IPv4Network = DEFAULT_BRIDGE
    address_pool: ipaddress.IPv4Network = DEFAULT_ADDRESS_POOL
    pool_subnet_size: int = 24

    @classmethod
    def numbered(cls, index: int) -> WorkerNetwork:
        """The plan of the ``index``-th of several nodes running at once: only the links must
        differ (bridges and pools live inside each node's namespace), but distinct reads better."""
        # Two /24s per node below the address pool (10.231.128.0/17).
        if not 0 <= index < 64:
            raise ValueError(f"node numbers go from 0 to 63, not {index}")
        link = ipaddress.IPv4Network(f"10.231.{2 * index}.0/24")
        bridge = ipaddress.IPv4Network(f"10.231.{2 * index + 1}.0/24")
        return cls(link=link, bridge=bridge)

    @property
    def host_address(self) -> str:
        return str(self.link.network_address + 1)

    @property
    def node_address(self) -> str:
        return str(self.link.network_address + 2)

    @property
    def bridge_gateway(self) -> str:
        return f"{self.bridge.network_address + 1}/{self.bridge.prefixlen}"


@dataclass
class WorkerNode(StartStop):
    """A dockerd in its own network namespace; ``start``/``stop`` or use it as a context manager."""

    network: WorkerNetwork = field(default_factory=WorkerNetwork)
    name: str = field(default_factory=lambda: f"{NAME_PREFIX}{secrets.token_hex(3)}")
    _daemon: ServerProcess | None = field(default=None, init=False, repr=False)
    _client: docker.DockerClient | None = field(default=None, init=False, repr=False)
    _namespace_inode: int | None = field(default=None, init=False, repr=False)

    @property
    def address(self) -> str:
        """The node's own address: its Swarm ``--advertise-addr``."""
        return self.network.node_address

    @property
    def host_address(self) -> str:
        """The host's end of the link: where the node reaches the host (manager, registry)."""
        return self.network.host_address

    @property
    def directory(self) -> Path:
        return Path(tempfile.gettempdir()) / self.name

    @property
    def socket(self) -> Path:
        return self.directory / "docker.sock"

    @property
    def docker_host(self) -> str:
        """The ``DOCKER_HOST`` value for the docker CLI."""
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.directory / "dockerd.log"

    @property
    def host_link(self) -> str:
        # Interface names are at most 15 characters; the name's random part keeps it unique.
        return f"{LINK_PREFIX}{self.name.removeprefix(NAME_PREFIX)}"

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            raise RuntimeError(f"worker node {self.name} is not running")
        return self._client

    def start(self) -> WorkerNode:
        if self._daemon is not None:
            raise RuntimeError(f"worker node {self.name} is already running")
        binaries = {name: find_binary(name) for name in ("ip", "nsenter", "unshare", "dockerd")}
        refuse_overlapping_routes(self.network)
        self.directory.mkdir(mode=0o700)
        self._create_link(binaries["ip"])
        self._daemon = self._spawn_daemon(binaries)
        self._client = self._wait_for_engine(self._daemon)
        return self

    def stop(self) -> None:
        """Remove everything the node made; safe to call twice and after a failed ``start``.

        ``WorkerNode(name=...).stop()`` removes a node that a killed run left behind.
        """
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._daemon is not None:
            self._daemon.stop()
            self._daemon = None
        self._kill_leftover_processes()
        unmount_below(self.directory)
        remove_cgroups(self.name)
        if self.directory.exists():
            shutil.rmtree(self.directory)
        if Path("/sys/class/net", self.host_link).exists():
            run_checked(["ip", "link", "delete", self.host_link], None, "deleting the veth pair")
        if (NETNS_DIR / self.name).exists():
            run_checked(["ip", "netns", "delete", self.name], None, "deleting the namespace")

    def processes(self) -> list[int]:
        """Live processes of this node: in its namespace, in its cgroups, or shims of its
        containerd namespace (found even when dockerd is gone)."""
        namespace_file = NETNS_DIR / self.name
        # Remembered: the processes keep the namespace alive after its file is gone.
        if self._namespace_inode is None and namespace_file.exists():
            self._namespace_inode = namespace_file.stat().st_ino
        inode = self._namespace_inode
        return [pid for pid in _process_ids() if _belongs_to_node(pid, inode, self.name)]

    def _create_link(self, ip: str) -> None:
        namespace, link = self.name, self.host_link
        run_checked([ip, "netns", "add", namespace], None, "creating the namespace")
        self._namespace_inode = (NETNS_DIR / namespace).stat().st_ino
        # The node's end is its eth0, as on a real machine.
        commands = [
            [ip, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace],
            [ip, "address", "add", self._host_cidr(), "dev", link],
            [ip, "link", "set", link, "up"],
            [ip, "-n", namespace, "address", "add", self._node_cidr(), "dev", "eth0"],
            [ip, "-n", namespace, "link", "set", "lo", "up"],
            [ip, "-n", namespace, "link", "set", "eth0", "up"],
        ]
        for command in commands:
            run_checked(command, None, "setting up the node's link")

    def _host_cidr(self) -> str:
        return f"{self.host_address}/{self.network.link.prefixlen}"

    def _node_cidr(self) -> str:
        return f"{self.address}/{self.network.link.prefixlen}"

    def _spawn_daemon(self, binaries: dict[str, str]) -> ServerProcess:
        config_file = self.directory / "daemon.json"
        # A config of its own: the host's /etc/docker/daemon.json is the main engine's. The key
        # file (dockerd 20.10 has it as a config key only) gives the node its own engine ID.
        config = {"deprecated-key-path": str(self.directory / "key.json")}
        config_file.write_text(json.dumps(config))
        # unshare --uts + hostname: the node gets its own host name, as Swarm shows and constrains
        # nodes by it. Both exec, so the spawned pid is dockerd's own.
        argv = [
            binaries["unshare"],
            "--uts",
            binaries["nsenter"],
            f"--net={NETNS_DIR / self.name}",
            "sh",
            "-c",
            'hostname "$0" && exec "$@"',
            self.name,
            *self._dockerd_arguments(binaries["dockerd"], config_file),
        ]
        daemon = spawn(argv, self.log_path)
        return ServerProcess(daemon, self.log_path, signal.SIGTERM, STOP_TIMEOUT_SECONDS)

    def _dockerd_arguments(self, dockerd: str, config_file: Path) -> list[str]:
        directory, network = self.directory, self.network
        pool = f"base={network.address_pool},size={network.pool_subnet_size}"
        return [
            dockerd,
            f"--config-file={config_file}",
            f"--data-root={directory / 'data'}",
            f"--exec-root={directory / 'exec'}",
            f"--host={self.docker_host}",
            f"--pidfile={directory / 'docker.pid'}",
            f"--containerd-namespace={self.name}",
            f"--containerd-plugins-namespace={self.name}-plugins",
            f"--bip={network.bridge_gateway}",
            f"--default-address-pool={pool}",
            # Containers in cgroups named after the node, so teardown finds them without dockerd.
            f"--cgroup-parent=/{self.name}",
        ]

    def _wait_for_engine(self, daemon: ServerProcess) -> docker.DockerClient:
        def answers() -> bool:
            # The SDK asks the engine for its API version on construction: build it once it answers.
            if not self.socket.exists():
                return False
            try:
                docker.APIClient(base_url=self.docker_host, version="auto", timeout=2).close()
            except docker.errors.DockerException:
                return False
            return True

        wait_until_ready(
            answers, daemon.popen, self.log_path, f"dockerd of {self.name}", START_TIMEOUT_SECONDS
        )
        return docker.DockerClient(base_url=self.docker_host, timeout=CLIENT_TIMEOUT_SECONDS)

    def _kill_leftover_processes(self) -> None:
        # What outlives dockerd when it was killed or did not shut down cleanly: containerd-shim
        # processes (daemonized, so not in dockerd's process group) and the containers under them.
        def remaining() -> list[int]:
            pids = self.processes()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return pids

        try:
            poll_until(
                remaining,
                lambda pids: not pids,
                timeout=LEFTOVER_TIMEOUT_SECONDS,
                interval=0.1,
                message=lambda pids: f"processes of {self.name} survive SIGKILL: {pids}",
            )
        except PollTimeout as error:
            raise RuntimeError(str(error)) from None


def copy_image(reference: str, source: docker.DockerClient, target: docker.DockerClient) -> Image:
    """Copy an image between engines without a registry (``docker save | docker load``),
    streamed: nothing is written to disk and the image is never held in memory whole."""
    image = source.images.get(reference)
    # A tag travels with the image only when it is named; an ID copies the bare image.
    exported = image.save(named=reference if reference in image.tags else False)
    loaded = target.images.load(exported)
    if not loaded:
        raise RuntimeError(f"loading {reference} into the target engine gave no image")
    return loaded[0]


def refuse_overlapping_routes(network: WorkerNetwork) -> None:
    """Fail early, and say what is in the way, when the host already routes the node's link."""
    routes = json.loads(
        subprocess.run(
            ["ip", "-json", "-4", "route", "show", "table", "all"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    for route in routes:
        destination = route.get("dst", "default")
        if destination == "default" or route.get("type", "unicast") != "unicast":
            continue
        if ipaddress.IPv4Network(destination, strict=False).overlaps(network.link):
            raise RuntimeError(
                f"{network.link} overlaps {destination} on {route.get('dev')}, "
                f"{_owner(route.get('dev', ''))}; or pass WorkerNode another WorkerNetwork"
            )


def _owner(device: str) -> str:
    if not device.startswith(LINK_PREFIX):
        return "a host network"
    name = NAME_PREFIX + device.removeprefix(LINK_PREFIX)
    return (
        f"the link of worker node {name}, running or left by a killed run "
        f"(WorkerNode(name={name!r}).stop() removes it)"
    )


def unmount_below(directory: Path) -> None:
    """Unmount everything mounted at or under ``directory``, deepest first.

    dockerd mounts its data root onto itself, overlay filesystems of running containers and the
    containers' network namespaces; a killed dockerd leaves them all behind.
    """
    for _attempt in range(5):
        mounts = sorted(mounts_below(directory), key=lambda path: len(path.parts), reverse=True)
        if not mounts:
            return
        for mount_point in mounts:
            # Lazy: a mount a dying process still holds goes as soon as it lets go.
            subprocess.run(["umount", "--lazy", str(mount_point)], capture_output=True, check=False)
    left = mounts_below(directory)
    if left:
        raise RuntimeError(f"could not unmount {[str(path) for path in left]}")


def mounts_below(directory: Path) -> list[Path]:
    mount_points = [_unescape(line.split()[4]) for line in MOUNTINFO.read_text().splitlines()]
    return [
        Path(point)
        for point in mount_points
        if Path(point) == directory or Path(point).is_relative_to(directory)
    ]


def _unescape(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (proc(5)).
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)


def remove_cgroups(name: str) -> None:
    """Remove the cgroup ``/name`` and its children from every hierarchy (v1 and v2)."""
    for top in _cgroups_named(name):
        for directory, _children, _files in os.walk(top, topdown=False):
            Path(directory).rmdir()


def _cgroups_named(name: str) -> Iterator[Path]:
    candidates = [CGROUP_ROOT / name, *CGROUP_ROOT.glob(f"*/{name}")]
    return (path for path in candidates if path.is_dir())


def _process_ids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _belongs_to_node(pid: int, namespace_inode: int | None, name: str) -> bool:
    process = Path("/proc", str(pid))
    try:
        if _zombie(process):
            return False
        return (
            (process / "ns" / "net").stat().st_ino == namespace_inode
            or _in_cgroup(process, name)
            or _shim_of(process, name)
        )
    except OSError:
        # Gone meanwhile, or not ours to inspect (this sandbox hides its init's namespaces).
        return False


def _zombie(process: Path) -> bool:
    stat = (process / "stat").read_text()
    return stat[stat.rindex(")") + 2 :].startswith("Z")


def _in_cgroup(process: Path, name: str) -> bool:
    # Lines are "id:controllers:/path" (cgroups(7)).
    paths = (line.split(":", 2)[2] for line in (process / "cgroup").read_text().splitlines())
    return any(path == f"/{name}" or path.startswith(f"/{name}/") for path in paths)


def _shim_of(process: Path, name: str) -> bool:
    # A shim of a system-wide containerd would run outside the namespace: its arguments name ours.
    arguments = (process / "cmdline").read_bytes().split(b"\0")
    return any(
        flag == b"-namespace" and value == name.encode()
        for flag, value in itertools.pairwise(arguments)
    )


@contextlib.contextmanager
def running_worker(network: WorkerNetwork | None = None) -> Iterator[WorkerNode]:
    """A started node, stopped afterwards (also after a failed start). A missing binary (ip,
    nsenter, dockerd) skips the test, or fails it in CI (tests.support.binaries)."""
    node = WorkerNode(network or WorkerNetwork())
    try:
        with binaries_required():
            node.start()
        yield node
    finally:
        node.stop()
