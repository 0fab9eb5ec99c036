"""Where the program finds the files it builds and uploads; the digest of a service's inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# What services/.dockerignore keeps out of the build context, plus editor droppings: caches and
# local environments differ between machines and runs and are never part of an image's meaning.
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

    def service_source_digest(self, service_folder: str) -> str:
        """sha256 over every file that goes into one service's image, by relative path and content.

        The build context is the shared `services/` folder, so the provider's own context hash
        moves for all three images when any service changes. This digest leaves out the sibling
        services' folders: passed as a build arg and label, it makes "only this service changed"
        visible in the declared inputs and in `pulumi preview`.
        """
        siblings = {
            entry.name
            for entry in self.services.iterdir()
            if entry.is_dir() and entry.name.endswith("-service") and entry.name != service_folder
        }
        digest = hashlib.sha256()
        for path in _image_files(self.services, excluded_top_level=siblings):
            relative = path.relative_to(self.services).as_posix()
            digest.update(relative.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def _image_files(context: Path, excluded_top_level: set[str]) -> Iterator[Path]:
    for path in sorted(context.rglob("*")):
        relative = path.relative_to(context)
        directories = relative.parts[:-1]
        if relative.parts[0] in excluded_top_level or _IGNORED_DIRECTORIES & set(directories):
            continue
        if any(part.endswith(".egg-info") for part in directories):
            continue
        if (
            path.is_file()
            and path.name not in _IGNORED_NAMES
            and not path.name.endswith(_IGNORED_SUFFIXES)
        ):
            yield path
