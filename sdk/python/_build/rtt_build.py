"""PEP 517 build backend of rtt-sdk: setuptools.build_meta, plus a
standard-library wheel builder for when setuptools cannot build wheels.

setuptools before 70.1 builds wheels (and wheel metadata) only with the
separate `wheel` package. `pip install --no-build-isolation` offline, in an
environment that has setuptools but not `wheel`, would fail; there this
backend writes the (pure-Python, py3-none-any) wheel itself from the
[project] table of pyproject.toml. Everywhere else setuptools does all the
work. Source distributions are always setuptools' own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zipfile

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (every hook, by default setuptools')


def _setuptools_builds_wheels() -> bool:
    """Whether setuptools has a bdist_wheel command (its own since 70.1,
    or the `wheel` package's, found through its entry point)."""
    try:
        from setuptools.dist import Distribution
        Distribution().get_command_class("bdist_wheel")
        return True
    except Exception:
        return False


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE = "rtt_sdk"


def _project() -> dict:
    try:
        import tomllib
    except ImportError as e:  # Python < 3.11 without `wheel`
        raise RuntimeError("building rtt-sdk needs the `wheel` package on Python < 3.11: "
                           "pip install wheel, or drop --no-build-isolation") from e
    with open(os.path.join(_ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _version() -> str:
    with open(os.path.join(_ROOT, _PACKAGE, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__\s*=\s*"([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError("no __version__ in rtt_sdk/__init__.py")
    return m.group(1)


def _metadata() -> tuple[str, str, str]:
    """(distribution name for file names, version, METADATA text)."""
    p = _project()
    version = _version()
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}", f"Version: {version}"]
    if p.get("description"):
        lines.append(f"Summary: {p['description']}")
    if p.get("requires-python"):
        lines.append(f"Requires-Python: {p['requires-python']}")
    for c in p.get("classifiers", []):
        lines.append(f"Classifier: {c}")
    body = ""
    readme = p.get("readme")
    if isinstance(readme, str) and os.path.exists(os.path.join(_ROOT, readme)):
        lines.append("Description-Content-Type: text/markdown")
        with open(os.path.join(_ROOT, readme), encoding="utf-8") as f:
            body = f.read()
    text = "\n".join(lines) + "\n\n" + body
    return re.sub(r"[-_.]+", "_", p["name"]).lower(), version, text


_WHEEL = "Wheel-Version: 1.0\nGenerator: rtt_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _dist_info_files() -> tuple[str, str, dict]:
    name, version, metadata = _metadata()
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{dist_info}/METADATA": metadata.encode("utf-8"),
        f"{dist_info}/WHEEL": _WHEEL.encode(),
        f"{dist_info}/top_level.txt": (_PACKAGE + "\n").encode(),
    }
    return f"{name}-{version}", dist_info, files


def _write_metadata(metadata_directory: str) -> str:
    _, dist_info, files = _dist_info_files()
    for path, data in files.items():
        full = os.path.join(metadata_directory, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    return dist_info


def _package_files() -> dict:
    out = {}
    top = os.path.join(_ROOT, _PACKAGE)
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".py", ".typed")):
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, _ROOT).replace(os.sep, "/")
                with open(full, "rb") as f:
                    out[rel] = f.read()
    return out


def _write_wheel(wheel_directory: str, contents: dict, tag: str = "py3-none-any") -> str:
    base, dist_info, meta = _dist_info_files()
    contents = dict(contents)
    contents.update(meta)
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    filename = f"{base}-{tag}.whl"
    os.makedirs(wheel_directory, exist_ok=True)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in contents.items():
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return filename


if not _setuptools_builds_wheels():

    def get_requires_for_build_wheel(config_settings=None):  # noqa: F811
        return []

    def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):  # noqa: F811
        return _write_metadata(metadata_directory)

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # noqa: F811
        return _write_wheel(wheel_directory, _package_files())

    def get_requires_for_build_editable(config_settings=None):  # noqa: F811
        return []

    def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):  # noqa: F811
        return _write_metadata(metadata_directory)

    def build_editable(wheel_directory, config_settings=None, metadata_directory=None):  # noqa: F811
        pth = (_ROOT + "\n").encode("utf-8")
        return _write_wheel(wheel_directory, {"__editable__.rtt_sdk.pth": pth})

__all__ = [n for n in dir(_setuptools) if not n.startswith("_")]
