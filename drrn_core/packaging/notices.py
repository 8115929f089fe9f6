"""Licence texts: DRRN Studio's own (MIT) and the notices of the third-party software it ships.

The notices are generated from the installed distributions' metadata (name, version, licence
expression or classifier, home page) and the licence files each wheel carries in its
``.dist-info`` (or beside its package). Where a wheel ships no licence text (PySide6 /
shiboken6: LGPLv3), the system's copy of the named licence (``/usr/share/common-licenses``) is
included instead. build.spec writes the bundle's ``resources/licenses/THIRD_PARTY_NOTICES.txt``
for exactly the distributions PyInstaller collected (plus Python, the PyInstaller bootloader and
the system libraries it copied); a wheel or source install shows the same text generated for
the project's dependency closure, on demand.

    python -m drrn_core.packaging.notices [--out FILE]     # the dependency closure's notices
"""

from __future__ import annotations

import argparse
import email.message
import importlib.metadata as md
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, cast

from drrn_core.atomic import atomic_path

if TYPE_CHECKING:
    from packaging.requirements import Requirement

PROJECT = "drrn-studio"
NOTICES_NAME = "THIRD_PARTY_NOTICES.txt"
LICENCE_FILE = re.compile(r"^(licen[cs]e|copying|notice|copyright|authors)", re.IGNORECASE)
COMMON_LICENCES = Path("/usr/share/common-licenses")
# Licence names as written in metadata -> the system's text of it (Debian's base-files).
COMMON_TEXTS = {"LGPL-3": ("LGPL-3", "GPL-3"), "LGPL": ("LGPL-3", "GPL-3")}
RULE = "=" * 78


def licences_dir() -> Path:
    """``resources/licenses`` of this installation (bundle, wheel or checkout)."""
    from drrn_core.packaging.data import resources_dir

    return resources_dir() / "licenses"


def project_licence() -> str:
    """DRRN Studio's LICENSE text: the bundle's copy, the checkout's, or the wheel's metadata."""
    checkout = Path(__file__).resolve().parents[1]
    candidates = [licences_dir() / "LICENSE"]
    if (checkout / "pyproject.toml").is_file():  # not site-packages/LICENSE of some other wheel
        candidates.append(checkout / "LICENSE")
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        for file in md.distribution(PROJECT).files or []:
            if file.name == "LICENSE":
                return Path(file.locate()).read_text(encoding="utf-8")
    except md.PackageNotFoundError:
        pass
    return "MIT License (the LICENSE file was not found in this installation)\n"


@dataclass
class Notice:
    """One distribution's entry: what it is, under which licence, and the licence texts."""

    name: str
    version: str
    licence: str
    url: str
    texts: list[tuple[str, str]]  # (file name, text)

    def render(self) -> str:
        head = [RULE, f"{self.name} {self.version}", f"Licence: {self.licence or 'see below'}"]
        if self.url:
            head.append(f"Home page: {self.url}")
        parts = ["\n".join(head), ""]
        for fname, text in self.texts:
            parts += [f"--- {fname} ---", text.rstrip(), ""]
        if not self.texts:
            parts += ["(this distribution ships no licence file)", ""]
        return "\n".join(parts)


def _metadata(dist: md.Distribution) -> email.message.Message:
    """The distribution's metadata: an email Message (Python 3.11's PackageMetadata protocol
    does not declare its ``get``)."""
    return cast(email.message.Message, dist.metadata)


def licence_name(dist: md.Distribution) -> str:
    """The licence as the metadata states it: License-Expression, a short License field, or the
    licence classifiers."""
    meta = _metadata(dist)
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) < 120:
        return text
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::")]
    return "; ".join(classifiers) or (text.splitlines()[0][:120] if text else "")


def home_page(dist: md.Distribution) -> str:
    meta = _metadata(dist)
    if meta.get("Home-page"):
        return meta["Home-page"]
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "home", "source", "repository", "source code"):
            return url.strip()
    return ""


def licence_texts(dist: md.Distribution) -> list[tuple[str, str]]:
    """The licence files the distribution carries (dist-info first), read as text."""
    files = [f for f in dist.files or [] if LICENCE_FILE.match(f.name)
             and not f.name.endswith((".py", ".pyc", ".pyi", ".so", ".pyd", ".dll"))]
    files.sort(key=lambda f: (".dist-info" not in str(f), str(f)))
    out = []
    for file in files:
        try:
            text = Path(file.locate()).read_text(encoding="utf-8", errors="replace")
            out.append((str(file), text))
        except (OSError, ValueError):
            continue
    if not out:
        name = licence_name(dist)
        for key, texts in COMMON_TEXTS.items():
            if key in name:
                for text_name in texts:
                    path = COMMON_LICENCES / text_name
                    if path.is_file():
                        out.append((str(path), path.read_text(encoding="utf-8")))
                break
    return out


def notice_for(dist: md.Distribution) -> Notice:
    return Notice(dist.metadata["Name"], dist.version, licence_name(dist), home_page(dist),
                  licence_texts(dist))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level_map() -> dict[str, list[md.Distribution]]:
    """First path component of every installed file (a package folder, a module name without
    its suffixes, ``numpy.libs``, ...) -> the distributions that installed it."""
    out: dict[str, list[md.Distribution]] = {}
    for dist in md.distributions():
        for file in dist.files or []:
            parts = PurePosixPath(str(file)).parts
            if not parts or parts[0] in ("..", "/") or parts[0].endswith((".dist-info",
                                                                        ".data")):
                continue
            top = parts[0] if len(parts) > 1 else parts[0].split(".")[0]
            if dist not in out.setdefault(top, []):
                out[top].append(dist)
    return out


def distributions_for(names: Iterable[str]) -> list[md.Distribution]:
    """The installed distributions that provide these top-level names (module or folder)."""
    mapping = top_level_map()
    found: dict[str, md.Distribution] = {}
    for name in names:
        for dist in mapping.get(name, []):
            found.setdefault(_canonical(dist.metadata["Name"]), dist)
    return [found[k] for k in sorted(found)]


def dependency_closure(project: str = PROJECT) -> list[md.Distribution]:
    """The project's run-time requirements, recursively (extras and non-matching markers
    skipped), as installed here; the project itself excluded."""
    parse: Callable[[str], Requirement] | None
    try:
        from packaging.requirements import Requirement as requirement

        parse = requirement
    except ImportError:  # packaging is a dependency of scikit-image; be safe anyway
        parse = None
    seen: dict[str, md.Distribution] = {}
    todo = [project]
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[name] = dist
        for spec in dist.requires or []:
            if parse is not None:
                req = parse(spec)
                if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                    continue
                todo.append(req.name)
            elif "extra ==" not in spec and (m := re.match(r"[A-Za-z0-9._-]+", spec)):
                todo.append(m.group(0))
    seen.pop(_canonical(project), None)
    return [seen[k] for k in sorted(seen)]


def python_notice() -> Notice:
    """CPython's licence (the interpreter and standard library are in every bundle)."""
    base = Path(sys.base_prefix)
    texts = []
    for path in (base / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" /
                 "LICENSE.txt", base / "LICENSE.txt"):
        if path.is_file():
            texts.append((path.name, path.read_text(encoding="utf-8", errors="replace")))
            break
    return Notice("Python", sys.version.split()[0], "PSF-2.0", "https://www.python.org/", texts)


def system_library_notices(paths: Iterable[str]) -> list[Notice]:
    """Debian/Ubuntu: the packages that own these system libraries and their copyright files
    (PyInstaller copies some, e.g. Qt's xcb dependencies, from the build machine)."""
    paths = sorted({str(Path(p).resolve()) for p in paths})
    if not paths:
        return []
    try:
        owned = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True,
                               timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    packages: dict[str, list[str]] = {}
    for line in owned.splitlines():
        pkg, _, path = line.partition(": ")
        if path:
            packages.setdefault(pkg.split(":")[0], []).append(Path(path).name)
    notices = []
    for pkg in sorted(packages):
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                                 capture_output=True, text=True).stdout.strip()
        copyright_file = Path("/usr/share/doc") / pkg / "copyright"
        texts = ([(str(copyright_file), copyright_file.read_text(encoding="utf-8",
                                                                 errors="replace"))]
                 if copyright_file.is_file() else [])
        libs = ", ".join(sorted(set(packages[pkg])))
        notices.append(Notice(f"{pkg} (system library: {libs})", version,
                              "see the Debian copyright file below", "", texts))
    return notices


def render(notices: Iterable[Notice], intro: str) -> str:
    body = [intro.rstrip(), ""]
    body += [n.render() for n in notices]
    return "\n".join(body).rstrip() + "\n"


INTRO = ("DRRN Studio includes the following third-party software. Each entry names the\n"
         "distribution, its version and licence, and reproduces the licence and notice files it\n"
         "ships. DRRN Studio itself is under the MIT licence (LICENSE).\n")


def closure_notices() -> str:
    """Notices for this environment's copy of the project's dependencies (wheel/source
    installs; a bundle reads the file written at build time instead)."""
    return render([python_notice(), *map(notice_for, dependency_closure())], INTRO)


def installed_notices() -> str:
    """The bundle's notices file when there is one, else generated for the dependencies."""
    path = licences_dir() / NOTICES_NAME
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return closure_notices()


def write_notices(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drrn_core.packaging.notices",
                                     description="Write the third-party notices of the "
                                     "project's installed dependencies.")
    parser.add_argument("--out", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    text = closure_notices()
    if args.out:
        write_notices(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
