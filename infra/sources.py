"""Where the program finds the files it builds and uploads; the digest of an image's inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# What the .dockerignore files under services/ keep out of build contexts, plus editor droppings:
# caches and local environments differ between machines and runs and are never part of an image.
_IGNORED_DIRECTORIES = frozenset(
    {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", "venv", ".git", "tests"}
)
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".pyd", ".swp", "~")
_IGNORED_NAMES = frozenset({".env"})


@dataclass(frozen=True)
class SourceTree:
    """The repository checkout the program reads from (the repository root by default).

    Tests pass a copy to change one service's code without touching the working tree.
    """

    root: Path

    @classmethod
    def of_repository(cls) -> SourceTree:
        return cls(root=Path(__file__).resolve().parent.parent)

    @property
    def services(self) -> Path:
        return self.root / "services"

    def read_text(self, relative: str) -> str:
        path = self.root / relative
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"the Pulumi program needs {relative} (looked in {self.root})"
            ) from None

    def source_digest(self, folder: str) -> str:
        """sha256 over the files of one image's folder under `services/`, by path and content.

        The servicekit base covers servicekit (its requirements and Dockerfile included); a service
        covers its own folder only, since a servicekit change reaches it as a new base image ID.
        Passed as a build arg and label, it makes "only this service changed" visible in the
        declared inputs, in `pulumi preview` and in the image's revision label. Each image's build
        context is that same folder (infra/images.py), so the provider's own context hash agrees.
        """
        root = self.services / folder
        if not root.is_dir():
            raise FileNotFoundError(f"the Pulumi program needs services/{folder} (in {self.root})")
        digest = hashlib.sha256()
        for path in _image_files(root):
            relative = path.relative_to(root).as_posix()
            digest.update(relative.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def _image_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        directories = path.relative_to(folder).parts[:-1]
        if _IGNORED_DIRECTORIES & set(directories):
            continue
        if any(part.endswith(".egg-info") for part in directories):
            continue
        if (
            path.is_file()
            and path.name not in _IGNORED_NAMES
            and not path.name.endswith(_IGNORED_SUFFIXES)
        ):
            yield path
