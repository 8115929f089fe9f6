"""Linux packages of a built DRRN Studio bundle (dist/drrn-studio): the .tar.gz stage, a .deb, an
AppDir (and the AppImage when a tool for it is present), and the glibc baseline check.

    python scripts/package_linux.py glibc-check dist/drrn-studio [--baseline 2.35]
    python scripts/package_linux.py stage  dist/drrn-studio build/package/NAME
    python scripts/package_linux.py deb    dist/drrn-studio dist/ [--compress gzip|xz|zstd]
    python scripts/package_linux.py appdir dist/drrn-studio build/AppDir
    python scripts/package_linux.py appimage build/AppDir dist/NAME.AppImage

scripts/build_bundle.sh runs them in that order. Only the standard library and the usual
binutils/dpkg tools (readelf, dpkg-deb, dpkg -S) are used; the AppImage needs `appimagetool`
on PATH (or $APPIMAGETOOL), or an AppImage type-2 runtime file ($APPIMAGE_RUNTIME) plus
`mksquashfs`. Neither is packaged by Debian or on PyPI, so without them the AppDir is as far as
it goes (the release workflow downloads appimagetool).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
ICONS = ROOT / "resources" / "icons"
APP_ID = "io.github.drrnstudio.DRRNStudio"
PACKAGE = "drrn-studio"
# The oldest glibc the bundle may need: PySide6 6.8+ wheels are manylinux_2_34, and the release
# is built on Ubuntu 22.04 (glibc 2.35), whose system libraries the bundle copies.
GLIBC_BASELINE = "2.35"
ELF_MAGIC = b"\x7fELF"


def baseline() -> str:
    """The glibc the bundle is built for: $GLIBC_BASELINE (build_bundle.sh) or the default."""
    return os.environ.get("GLIBC_BASELINE") or GLIBC_BASELINE


def version() -> str:
    text = (ROOT / "drrn_core" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def vtuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def elf_files(folder: Path) -> list[Path]:
    """Regular files under `folder` that start with the ELF magic (links skipped)."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with open(path, "rb") as fh:
            if fh.read(4) == ELF_MAGIC:
                out.append(path)
    return out


def version_needs(path: Path) -> dict[str, set[str]]:
    """readelf -V: {library soname: {version names needed from it}} (e.g. libc.so.6: GLIBC_2.34)."""
    text = subprocess.run(["readelf", "-V", "--wide", str(path)], capture_output=True,
                          text=True, check=False).stdout
    needs: dict[str, set[str]] = {}
    section = text.split("Version needs section", 1)
    if len(section) < 2:
        return needs
    current = None
    for line in section[1].splitlines():
        file = re.search(r"File: (\S+)", line)
        if file:
            current = file.group(1)
            continue
        name = re.search(r"Name: (\S+)", line)
        if name and current:
            needs.setdefault(current, set()).add(name.group(1))
    return needs


def glibc_report(bundle: Path) -> tuple[str, dict[str, str]]:
    """The highest GLIBC_x.y any bundled ELF file needs, and each file's highest need."""
    per_file: dict[str, str] = {}
    for path in elf_files(bundle):
        versions = [v[len("GLIBC_"):] for names in version_needs(path).values() for v in names
                    if re.fullmatch(r"GLIBC_\d+(\.\d+)+", v)]
        if versions:
            per_file[str(path.relative_to(bundle))] = max(versions, key=vtuple)
    top = max(per_file.values(), key=vtuple, default="0")
    return top, per_file


def cmd_glibc_check(args: argparse.Namespace) -> int:
    top, per_file = glibc_report(args.bundle)
    over = {f: v for f, v in per_file.items() if vtuple(v) > vtuple(args.baseline)}
    print(f"glibc: {len(per_file)} ELF files; the highest need is GLIBC_{top} "
          f"(baseline {args.baseline})")
    if over:
        print(f"package_linux.py: {len(over)} bundled files need a glibc newer than the "
              f"baseline {args.baseline}; build on an older system (see docs/INSTALLERS.md):",
              file=sys.stderr)
        for file, v in sorted(over.items(), key=lambda kv: vtuple(kv[1]), reverse=True)[:30]:
            print(f"  GLIBC_{v}  {file}", file=sys.stderr)
        return 1
    return 0


# -- shared pieces ------------------------------------------------------------------------------
def icon_files() -> list[tuple[Path, str]]:
    """(source, path under share/icons/hicolor) for every size of the app icon."""
    out = [(ICONS / "drrn-studio.svg", "scalable/apps/drrn-studio.svg")]
    for png in sorted(ICONS.glob("drrn-studio-*.png")):
        size = png.stem.rsplit("-", 1)[1]
        out.append((png, f"{size}x{size}/apps/drrn-studio.png"))
    return out


def desktop_entry(exec_path: str | None = None) -> str:
    """The .desktop entry, with Exec/TryExec pointing at `exec_path` when given."""
    lines = (LINUX / f"{APP_ID}.desktop").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if exec_path and line.startswith("Exec="):
            line = f"Exec={exec_path} %F"
        elif exec_path and line.startswith("TryExec="):
            line = f"TryExec={exec_path}"
        out.append(line)
    return "\n".join(out) + "\n"


def put(src: Path, dest: Path, mode: int = 0o644) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    dest.chmod(mode)


def copy_bundle(bundle: Path, dest: Path) -> None:
    """The bundle folder (links kept), hard-linked where the file system allows."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["cp", "-al", str(bundle), str(dest)], capture_output=True).returncode:
        shutil.copytree(bundle, dest, symlinks=True)


def check_metainfo_version() -> None:
    text = (LINUX / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8")
    first = re.search(r'<release version="([^"]+)"', text)
    if not first or first.group(1) != version():
        raise SystemExit(f"package_linux.py: {APP_ID}.metainfo.xml's newest <release> is "
                         f"{first.group(1) if first else 'missing'}, the version is {version()}:"
                         " add a <release> entry")


# -- the .tar.gz stage --------------------------------------------------------------------------
def stage_archive(bundle: Path, stage: Path) -> Path:
    """The folder that becomes the .tar.gz: bundle, install.sh, uninstall.sh, share/."""
    if stage.exists():
        shutil.rmtree(stage)
    copy_bundle(bundle, stage / "drrn-studio")
    for script in ("install.sh", "uninstall.sh"):
        put(LINUX / script, stage / script, 0o755)
    (stage / "share" / "applications").mkdir(parents=True)
    (stage / "share" / "applications" / f"{APP_ID}.desktop").write_text(desktop_entry())
    put(LINUX / f"{APP_ID}.metainfo.xml", stage / "share" / "metainfo" /
        f"{APP_ID}.metainfo.xml")
    for src, rel in icon_files():
        put(src, stage / "share" / "icons" / "hicolor" / rel)
    (stage / "README.txt").write_text(
        f"DRRN Studio {version()} for Linux (x86_64)\n\n"
        "Run without installing:  ./drrn-studio/drrn-studio   (the app)\n"
        "                         ./drrn-studio/drrn --help   (the command-line tool)\n"
        "Install for this user:   ./install.sh    (~/.local; --prefix DIR for elsewhere)\n"
        "Uninstall:               ~/.local/lib/drrn-studio/uninstall.sh\n"
        f"Needs: x86_64 Linux with glibc {baseline()} or newer, X11 or Wayland.\n"
        "Licences: drrn-studio/_internal/resources/licenses/ (also in Help > About).\n")
    return stage


def cmd_stage(args: argparse.Namespace) -> int:
    check_metainfo_version()
    print(stage_archive(args.bundle, args.stage))
    return 0


# -- .deb -----------------------------------------------------------------------------------------
def needed_sonames(bundle: Path) -> set[str]:
    """Sonames the bundle's ELF files need that the bundle does not carry itself."""
    inside = {p.name for p in bundle.rglob("*")}
    needed: set[str] = set()
    for path in elf_files(bundle):
        text = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True,
                              check=False).stdout
        needed |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", text))
    return {n for n in needed if n not in inside}


def system_packages(sonames: set[str]) -> tuple[list[str], list[str]]:
    """The Debian packages that provide these libraries here (dpkg -S), and the sonames no
    package was found for."""
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    where: dict[str, str] = {}
    for line in cache.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if m and "x86-64" in m.group(2) and m.group(1) not in where:
            where[m.group(1)] = m.group(3)
    paths = {n: where[n] for n in sonames if n in where}
    missing = sorted(sonames - set(paths))
    packages: set[str] = set()
    for soname, path in sorted(paths.items()):
        for candidate in (path, os.path.realpath(path)):
            owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if owner.returncode == 0:
                packages.add(owner.stdout.split(":")[0].split(",")[0].strip())
                break
        else:
            missing.append(soname)
    return sorted(packages), sorted(missing)


def guessed_package(soname: str) -> str:
    """Debian's usual name for a library package: libfoo.so.1 -> libfoo1, libfoo-2.so.0 ->
    libfoo-2-0 (Debian policy 8.1); only a guess, so it goes into Recommends."""
    stem, _, number = soname.partition(".so.")
    number = number.split(".")[0]
    return f"{stem}{'-' if stem[-1:].isdigit() else ''}{number}".lower().replace("_", "-")


def deb_relations(bundle: Path) -> tuple[str, str]:
    """(Depends, Recommends): libc6 >= the newest glibc the bundle needs, the packages that
    provide the other system libraries it links to (found with dpkg -S here), and, for
    libraries not installed here (e.g. Wayland's, needed only by Qt's Wayland plugin), their
    usual package names as Recommends."""
    packages, missing = system_packages(needed_sonames(bundle))
    top, _ = glibc_report(bundle)
    glibc = top if top != "0" else baseline()
    depends = [f"libc6 (>= {glibc})"] + [p for p in packages if p != "libc6"]
    recommends = sorted({guessed_package(s) for s in missing})
    if missing:
        print(f"package_linux.py: no package here provides {', '.join(missing)}; "
              f"Recommends: {', '.join(recommends)}", file=sys.stderr)
    return ", ".join(depends), ", ".join(recommends)


def build_deb(bundle: Path, outdir: Path, compress: str = "gzip",
              depends: str | None = None) -> Path:
    """dist/drrn-studio_VERSION_amd64.deb: the bundle in /usr/lib/drrn-studio, /usr/bin links,
    the menu entry, AppStream metainfo, icons and the copyright file. No maintainer scripts:
    dpkg's triggers update the menu and icon caches, and dpkg removes exactly what it
    installed, folders included, on `apt remove`."""
    check_metainfo_version()
    v = version()
    recommends = ""
    if depends is None:
        depends, recommends = deb_relations(bundle)
    outdir.mkdir(parents=True, exist_ok=True)
    # In outdir: the same file system as dist/drrn-studio, so the copy can be hard links.
    with tempfile.TemporaryDirectory(dir=outdir, prefix=".deb-") as tmp:
        root = Path(tmp) / "root"
        lib = root / "usr" / "lib" / PACKAGE
        copy_bundle(bundle, lib)
        (root / "usr" / "bin").mkdir(parents=True)
        for name in ("drrn-studio", "drrn"):
            (root / "usr" / "bin" / name).symlink_to(f"../lib/{PACKAGE}/{name}")
        share = root / "usr" / "share"
        (share / "applications").mkdir(parents=True)
        (share / "applications" / f"{APP_ID}.desktop").write_text(
            desktop_entry("/usr/bin/drrn-studio"))
        put(LINUX / f"{APP_ID}.metainfo.xml", share / "metainfo" / f"{APP_ID}.metainfo.xml")
        for src, rel in icon_files():
            put(src, share / "icons" / "hicolor" / rel)
        doc = share / "doc" / PACKAGE
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            "Upstream-Name: DRRN Studio\n\n"
            "Files: *\nCopyright: The DRRN Studio contributors\nLicense: MIT\n"
            + "".join(f" {line}\n" if line.strip() else " .\n"
                      for line in (ROOT / "LICENSE").read_text().splitlines()[2:])
            + "\nComment: the third-party software bundled in /usr/lib/drrn-studio is listed,"
              " with its licences,\n in /usr/lib/drrn-studio/_internal/resources/licenses/"
              "THIRD_PARTY_NOTICES.txt\n")
        for folder in [root, *root.rglob("*")]:
            if folder.is_dir() and not folder.is_symlink():
                folder.chmod(0o755)
        size_kib = sum(p.lstat().st_size for p in root.rglob("*")) // 1024
        control = root / "DEBIAN" / "control"
        control.parent.mkdir()
        control.write_text(
            f"Package: {PACKAGE}\nVersion: {v}\nArchitecture: amd64\n"
            "Maintainer: The DRRN Studio contributors <drrn-studio@users.noreply.github.com>\n"
            f"Installed-Size: {size_kib}\n"
            f"Depends: {depends}\n" + (f"Recommends: {recommends}\n" if recommends else "") +
            "Section: graphics\nPriority: optional\n"
            "Homepage: https://github.com/drrnstudio/drrn-studio\n"
            "Description: image super-resolution with DRRN (desktop app and CLI)\n"
            " DRRN Studio enlarges images with DRRN, a deep recursive residual network,\n"
            " compares the result with bicubic interpolation, measures PSNR/SSIM/IFC and\n"
            " trains models. Includes the `drrn` command-line tool. Self-contained: Python,\n"
            " PyTorch (CPU) and Qt are bundled in /usr/lib/drrn-studio.\n")
        out = outdir / f"{PACKAGE}_{v}_amd64.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{compress}", "--build",
                        str(root), str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


def cmd_deb(args: argparse.Namespace) -> int:
    out = build_deb(args.bundle, args.outdir, args.compress)
    print(f"{out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


# -- AppDir / AppImage ----------------------------------------------------------------------------
APPRUN = """#!/bin/sh
# AppImage entry: the app, or the command-line tool when started as `drrn` (a link named drrn
# to the AppImage) or as `DRRN_Studio.AppImage drrn ARGS...`.
here="$(dirname "$(readlink -f "$0")")"
bundle="$here/usr/lib/drrn-studio"
name="$(basename "${ARGV0:-$0}")"
if [ "$name" = drrn ]; then
    exec "$bundle/drrn" "$@"
fi
if [ "${1:-}" = drrn ]; then
    shift
    exec "$bundle/drrn" "$@"
fi
exec "$bundle/drrn-studio" "$@"
"""


def build_appdir(bundle: Path, appdir: Path) -> Path:
    """An AppDir (AppRun, the .desktop entry and icon at the top, usr/ below) for appimagetool."""
    check_metainfo_version()
    if appdir.exists():
        shutil.rmtree(appdir)
    copy_bundle(bundle, appdir / "usr" / "lib" / PACKAGE)
    (appdir / "AppRun").write_text(APPRUN)
    (appdir / "AppRun").chmod(0o755)
    (appdir / f"{APP_ID}.desktop").write_text(desktop_entry())
    put(ICONS / "drrn-studio-256.png", appdir / "drrn-studio.png")
    (appdir / ".DirIcon").symlink_to("drrn-studio.png")
    share = appdir / "usr" / "share"
    put(LINUX / f"{APP_ID}.metainfo.xml", share / "metainfo" / f"{APP_ID}.appdata.xml")
    (share / "applications").mkdir(parents=True, exist_ok=True)
    (share / "applications" / f"{APP_ID}.desktop").write_text(desktop_entry())
    for src, rel in icon_files():
        put(src, share / "icons" / "hicolor" / rel)
    return appdir


def build_appimage(appdir: Path, out: Path) -> Path | None:
    """Pack the AppDir: appimagetool, or a type-2 runtime + mksquashfs; None (with the reason
    on stderr) when neither is available."""
    tool = os.environ.get("APPIMAGETOOL") or shutil.which("appimagetool")
    runtime = os.environ.get("APPIMAGE_RUNTIME")
    out.unlink(missing_ok=True)
    env = {**os.environ, "ARCH": "x86_64"}
    if tool:
        subprocess.run([tool, "--no-appstream", str(appdir), str(out)], check=True, env=env)
    elif runtime and shutil.which("mksquashfs"):
        # What appimagetool does: the runtime ELF, then the AppDir as a squashfs image.
        image = out.with_suffix(".squashfs")
        subprocess.run(["mksquashfs", str(appdir), str(image), "-root-owned", "-noappend",
                        "-comp", "zstd", "-quiet"], check=True)
        with open(out, "wb") as fh:
            fh.write(Path(runtime).read_bytes())
            with open(image, "rb") as src:
                shutil.copyfileobj(src, fh)
        image.unlink()
    else:
        print("package_linux.py: AppImage not built: no appimagetool on PATH ($APPIMAGETOOL) "
              "and no $APPIMAGE_RUNTIME + mksquashfs. Neither Debian nor PyPI packages them; "
              f"the AppDir is ready in {appdir} (the release workflow downloads appimagetool)",
              file=sys.stderr)
        return None
    out.chmod(out.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return out


def cmd_appdir(args: argparse.Namespace) -> int:
    print(build_appdir(args.bundle, args.appdir))
    return 0


def cmd_appimage(args: argparse.Namespace) -> int:
    out = build_appimage(args.appdir, args.out)
    if out is None:
        return 3  # "not built": build_bundle.sh reports it and goes on
    print(f"{out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("glibc-check", help="fail if a bundled file needs a newer glibc")
    p.add_argument("bundle", type=Path)
    p.add_argument("--baseline", default=baseline())
    p.set_defaults(run=cmd_glibc_check)
    p = sub.add_parser("stage", help="the .tar.gz's folder")
    p.add_argument("bundle", type=Path)
    p.add_argument("stage", type=Path)
    p.set_defaults(run=cmd_stage)
    p = sub.add_parser("deb", help="build the .deb")
    p.add_argument("bundle", type=Path)
    p.add_argument("outdir", type=Path)
    p.add_argument("--compress", default="gzip", choices=["gzip", "xz", "zstd", "none"])
    p.set_defaults(run=cmd_deb)
    p = sub.add_parser("appdir", help="build the AppDir")
    p.add_argument("bundle", type=Path)
    p.add_argument("appdir", type=Path)
    p.set_defaults(run=cmd_appdir)
    p = sub.add_parser("appimage", help="pack an AppDir into an AppImage")
    p.add_argument("appdir", type=Path)
    p.add_argument("out", type=Path)
    p.set_defaults(run=cmd_appimage)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
