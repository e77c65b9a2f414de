"""Files that travel inside the package (pyproject.toml's package-data): the SQL, the Kafka
pom. Found through `importlib.resources`, so a checkout, an editable install and a wheel
installed anywhere all find them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_path(package: str, *parts: str) -> Path:
    """A file or folder of ``package``'s data as a plain path (globbed, handed to Maven).

    pip installs wheels unzipped, so the files are on disk; a zipped install fails here,
    loudly, rather than later with a missing file."""
    root = resources.files(package)
    if not isinstance(root, Path):
        raise RuntimeError(f"the package {package!r} is not a folder on disk ({root!r}): install ravao unzipped")
    return root.joinpath(*parts)
