"""Build local stand-ins for the official images the Pulumi program uses: no registry is reachable.

Debian bookworm is bootstrapped once (`debootstrap --variant=minbase`, the variant the official
`debian:bookworm-slim` image is made from) into a cache directory and imported as the base image;
small Dockerfiles under `base_images/` then install Debian's PostgreSQL, Redis, nginx and Python on
it. Every image carries a label with a hash of what it was built from, so a rerun on the same
machine skips the images whose inputs did not change.

    python -m tests.engine.build_base_images
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image

BASE_IMAGES_DIR = Path(__file__).parent / "base_images"
DEFAULT_ROOTFS_CACHE = Path("/var/cache/microstack/rootfs")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_TAG = f"microstack-standin/debian:{SUITE}"
HASH_LABEL = "microstack.standin.hash"
# Bump when slim_rootfs changes, so cached root filesystems are slimmed again and re-imported.
SLIM_VERSION = "1"
SLIM_MARKER = ".microstack-slim"

# Same spirit as the official slim images: no docs, man pages or translations in any layer.
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
APT_SLIM = """\
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };
"""
SOURCES = f"""\
deb {MIRROR} {SUITE} main
deb {MIRROR} {SUITE}-updates main
deb http://deb.debian.org/debian-security {SUITE}-security main
"""
# Package maintainer scripts must not try to start daemons inside an image build.
POLICY_RC_D = "#!/bin/sh\nexit 101\n"


@dataclass(frozen=True)
class StandIn:
    """One stand-in image: its Dockerfile directory, its tag and files copied into its context."""

    directory: str
    tag: str
    extra_files: tuple[Path, ...] = ()


STAND_INS: tuple[StandIn, ...] = (
    StandIn("postgres", "microstack-standin/postgres:15"),
    StandIn("redis", "microstack-standin/redis:7"),
    StandIn("nginx", "microstack-standin/nginx:1.22"),
    StandIn("python", "microstack-standin/python:3.11", extra_files=(HOST_CA_BUNDLE,)),
)


class BaseImageBuildError(RuntimeError):
    """A stand-in could not be built; the message carries the end of the build log."""


def log(message: str) -> None:
    print(f"[base-images] {message}", file=sys.stderr, flush=True)


def ensure_rootfs(cache: Path) -> Path:
    """Bootstrap Debian into `cache` unless a finished (slimmed) copy is already there."""
    if is_slimmed(cache):
        return cache
    if not (cache / "var/lib/dpkg/status").exists():
        partial = cache.with_name(cache.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        log(f"debootstrap --variant=minbase {SUITE} into {partial} (a few minutes, once)")
        subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(partial), MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # Rename last: an interrupted bootstrap never looks finished to the next run.
        shutil.rmtree(cache, ignore_errors=True)
        partial.rename(cache)
    slim_rootfs(cache)
    return cache


def is_slimmed(root: Path) -> bool:
    marker = root / SLIM_MARKER
    return marker.exists() and marker.read_text().strip() == SLIM_VERSION


def slim_rootfs(root: Path) -> None:
    """Configure apt/dpkg like the official slim images and drop what no container needs."""
    (root / "etc/dpkg/dpkg.cfg.d/microstack-slim").write_text(DPKG_EXCLUDES)
    (root / "etc/apt/apt.conf.d/docker-slim").write_text(APT_SLIM)
    (root / "etc/apt/sources.list").write_text(SOURCES)
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text(POLICY_RC_D)
    policy.chmod(0o755)
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb"):
        remove_all(root.glob(pattern))
    remove_all(root.glob("usr/share/man/*"))
    remove_all(root.glob("usr/share/info/*"))
    remove_all(path for path in root.glob("usr/share/doc/*/*") if path.name != "copyright")
    remove_all(path for path in root.glob("usr/share/locale/*") if path.name != "locale.alias")
    (root / SLIM_MARKER).write_text(SLIM_VERSION + "\n")


def remove_all(paths: Iterable[Path]) -> None:
    for path in list(paths):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def rootfs_hash(root: Path) -> str:
    """The installed package set identifies the root filesystem well enough, and cheaply."""
    digest = hashlib.sha256()
    for name in ("var/lib/dpkg/status", SLIM_MARKER, "etc/apt/sources.list"):
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def context_hash(stand_in: StandIn, base_hash: str) -> str:
    digest = hashlib.sha256(base_hash.encode())
    directory = BASE_IMAGES_DIR / stand_in.directory
    files = sorted(path for path in directory.rglob("*") if path.is_file())
    for path in [*files, *stand_in.extra_files]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode())
    return digest.hexdigest()


def current_image(client: docker.DockerClient, tag: str, wanted_hash: str) -> Image | None:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return image if image.labels.get(HASH_LABEL) == wanted_hash else None


def import_base(client: docker.DockerClient, root: Path) -> str:
    """`docker import` the root filesystem as BASE_TAG; returns its content hash."""
    wanted = rootfs_hash(root)
    if current_image(client, BASE_TAG, wanted):
        log(f"{BASE_TAG} is up to date")
        return wanted
    log(f"importing {root} as {BASE_TAG}")
    with tempfile.TemporaryDirectory(prefix="microstack-rootfs-") as scratch:
        archive = Path(scratch) / "rootfs.tar"
        tar = ["tar", "--numeric-owner", "--exclude", f"./{SLIM_MARKER}", "-C", str(root)]
        subprocess.run([*tar, "-cf", str(archive), "."], check=True)
        repository, tag = BASE_TAG.split(":")
        client.api.import_image_from_file(
            str(archive),
            repository=repository,
            tag=tag,
            changes=[
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                'CMD ["bash"]',
                f"LABEL {HASH_LABEL}={wanted}",
            ],
        )
    return wanted


def build_stand_in(client: docker.DockerClient, stand_in: StandIn, base_hash: str) -> str:
    """Build one stand-in unless an image with the same inputs exists; returns its image id."""
    wanted = context_hash(stand_in, base_hash)
    existing = current_image(client, stand_in.tag, wanted)
    if existing:
        log(f"{stand_in.tag} is up to date")
        return str(existing.id)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="microstack-standin-") as scratch:
        context = Path(scratch) / "context"
        shutil.copytree(BASE_IMAGES_DIR / stand_in.directory, context)
        for extra in stand_in.extra_files:
            shutil.copy2(extra, context / extra.name)
        image = run_build(client, context, stand_in.tag, wanted)
    log(f"built {stand_in.tag} in {time.monotonic() - started:.0f}s")
    return str(image.id)


def run_build(client: docker.DockerClient, context: Path, tag: str, wanted_hash: str) -> Image:
    previous = try_get(client, tag)
    lines: list[str] = []
    try:
        for chunk in client.api.build(
            path=str(context),
            tag=tag,
            buildargs={"BASE_IMAGE": BASE_TAG},
            labels={HASH_LABEL: wanted_hash},
            rm=True,
            forcerm=True,
            decode=True,
        ):
            lines.extend(str(chunk.get("stream", "")).splitlines())
            if "error" in chunk:
                raise BaseImageBuildError(
                    f"building {tag} failed: {chunk['error']}\n" + "\n".join(lines[-40:])
                )
    except docker.errors.APIError as error:
        raise BaseImageBuildError(f"building {tag} failed: {error}") from error
    image = client.images.get(tag)
    if previous and previous.id != image.id:
        # The superseded build is now untagged: drop it rather than leave disk to leak run by run.
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(str(previous.id))
    return image


def try_get(client: docker.DockerClient, tag: str) -> Image | None:
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def build_all(client: docker.DockerClient, rootfs_cache: Path = DEFAULT_ROOTFS_CACHE) -> dict:
    """Make every stand-in present and current; returns {tag: image id}."""
    base_hash = import_base(client, ensure_rootfs(rootfs_cache))
    # Builds mostly wait on the Debian mirror, so they overlap well even on two cores.
    with ThreadPoolExecutor(max_workers=len(STAND_INS)) as pool:
        futures = {
            stand_in.tag: pool.submit(build_stand_in, client, stand_in, base_hash)
            for stand_in in STAND_INS
        }
        return {tag: future.result() for tag, future in futures.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rootfs-cache",
        type=Path,
        default=DEFAULT_ROOTFS_CACHE,
        help=f"the bootstrapped Debian root filesystem's cache (default {DEFAULT_ROOTFS_CACHE})",
    )
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    client = docker.from_env(timeout=600)
    try:
        images = build_all(client, arguments.rootfs_cache)
    except (BaseImageBuildError, subprocess.CalledProcessError) as error:
        log(str(error))
        return 1
    for tag, image_id in images.items():
        size = client.images.get(image_id).attrs["Size"] / 1e6
        log(f"{tag}  {image_id[:19]}  {size:.0f} MB")
    log(f"done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
