"""Linux packaging (scripts/package_linux.py, packaging/linux/): install.sh / uninstall.sh leave
nothing behind, the .deb's layout and a real dpkg install + remove in a scratch root, the
AppImage's AppRun dispatch, the desktop entry and AppStream metadata, and the glibc check.

A stand-in bundle (a shell script as `drrn-studio`, `drrn` linking to it, as in the real one)
keeps these tests fast; scripts/build_bundle.sh runs the same steps on the real bundle.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux packaging")


def _load():
    spec = importlib.util.spec_from_file_location("package_linux",
                                                  ROOT / "scripts" / "package_linux.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pl = _load()
APP_ID = pl.APP_ID


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    """A stand-in for dist/drrn-studio: prints the name it was started as and its arguments."""
    root = tmp_path / "dist" / "drrn-studio"
    (root / "_internal" / "resources" / "licenses").mkdir(parents=True)
    (root / "_internal" / "resources" / "licenses" / "LICENSE").write_text("MIT License\n")
    exe = root / "drrn-studio"
    exe.write_text('#!/bin/sh\necho "$(basename "$0") $*"\n')
    exe.chmod(0o755)
    (root / "drrn").symlink_to("drrn-studio")
    return root


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _sh(*argv, env=None, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env,
                          check=check, timeout=120)


def test_install_then_uninstall_leaves_nothing_behind(bundle, tmp_path):
    stage = pl.stage_archive(bundle, tmp_path / "stage" / "drrn-studio-x")
    prefix = tmp_path / "prefix with space"
    out = _sh(stage / "install.sh", "--prefix", prefix).stdout
    assert "Installed" in out
    installed = _tree(prefix)
    assert f"share/applications/{APP_ID}.desktop" in installed
    assert f"share/metainfo/{APP_ID}.metainfo.xml" in installed
    assert "share/icons/hicolor/48x48/apps/drrn-studio.png" in installed
    assert _sh(prefix / "bin" / "drrn", "--version").stdout.strip() == "drrn --version"
    assert _sh(prefix / "bin" / "drrn-studio").stdout.strip() == "drrn-studio"
    desktop = (prefix / "share" / "applications" / f"{APP_ID}.desktop").read_text()
    assert f'Exec="{prefix}/lib/drrn-studio/drrn-studio" %F' in desktop
    # Upgrading in place, then removing: nothing at all is left, no empty hicolor folders.
    _sh(stage / "install.sh", "--prefix", prefix)
    _sh(prefix / "lib" / "drrn-studio" / "uninstall.sh")
    assert _tree(prefix) == []


def test_uninstall_keeps_folders_and_files_that_were_there_before(bundle, tmp_path):
    stage = pl.stage_archive(bundle, tmp_path / "stage" / "drrn-studio-x")
    prefix = tmp_path / "home-local"
    theirs = prefix / "share" / "icons" / "hicolor" / "48x48" / "apps" / "other-app.png"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"png")
    (prefix / "bin").mkdir()
    before = _tree(prefix)
    _sh(stage / "install.sh", "--prefix", prefix)
    _sh(stage / "uninstall.sh", "--prefix", prefix)  # the archive's copy, pointed at the prefix
    assert _tree(prefix) == before


def test_desktop_entry_opens_bmp_ppm_pgm_and_folders(bundle, tmp_path):
    stage = pl.stage_archive(bundle, tmp_path / "stage" / "x")
    entry = stage / "share" / "applications" / f"{APP_ID}.desktop"
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    mimes = set(fields["MimeType"].rstrip(";").split(";"))
    assert {"image/png", "image/jpeg", "image/bmp", "image/x-portable-pixmap",
            "image/x-portable-graymap", "inode/directory"} <= mimes
    assert fields["Exec"].endswith("%F")
    if shutil.which("desktop-file-validate"):
        result = _sh("desktop-file-validate", entry, check=False)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout
    else:
        pytest.skip("desktop-file-validate not installed (Debian: desktop-file-utils)")


def test_metainfo_validates_and_names_the_current_version():
    pl.check_metainfo_version()
    if not shutil.which("appstreamcli"):
        pytest.skip("appstreamcli not installed (Debian: appstream)")
    result = _sh("appstreamcli", "validate", "--no-net",
                 ROOT / "packaging" / "linux" / f"{APP_ID}.metainfo.xml", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="no dpkg-deb here")
def test_deb_installs_and_removes_cleanly_in_a_scratch_root(bundle, tmp_path):
    deb = pl.build_deb(bundle, tmp_path / "out", depends="libc6 (>= 2.35)")
    info = _sh("dpkg-deb", "--field", deb, "Package", "Version", "Depends").stdout
    assert "Package: drrn-studio" in info and "libc6 (>= 2.35)" in info
    listing = _sh("dpkg-deb", "--contents", deb).stdout
    assert "./usr/bin/drrn -> ../lib/drrn-studio/drrn" in listing
    assert f"./usr/share/applications/{APP_ID}.desktop" in listing
    assert f"./usr/share/metainfo/{APP_ID}.metainfo.xml" in listing
    assert "./usr/share/doc/drrn-studio/copyright" in listing
    # A real install and removal by dpkg into a scratch root with its own database.
    root, admin = tmp_path / "root", tmp_path / "root" / "var" / "lib" / "dpkg"
    for sub in ("info", "updates", "triggers"):
        (admin / sub).mkdir(parents=True)
    (admin / "status").write_text("")
    dpkg = ["dpkg", f"--root={root}", f"--admindir={admin}", "--force-not-root",
            "--force-script-chrootless", "--force-depends", "--no-triggers"]
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    done = _sh(*dpkg, "--install", deb, env=env, check=False)
    if done.returncode != 0:
        pytest.skip(f"dpkg cannot install into a scratch root here: {done.stderr.strip()}")
    usr = root / "usr"
    assert (usr / "bin" / "drrn").is_symlink()
    assert _sh(usr / "bin" / "drrn", "--version").stdout.strip() == "drrn --version"
    assert (usr / "share" / "icons" / "hicolor" / "256x256" / "apps" / "drrn-studio.png").is_file()
    _sh(*dpkg, "--purge", "drrn-studio", env=env)
    assert not usr.exists() or _tree(usr) == []  # dpkg removed its folders too


def test_apprun_starts_the_app_or_the_cli_by_name(bundle, tmp_path):
    appdir = pl.build_appdir(bundle, tmp_path / "AppDir")
    assert (appdir / f"{APP_ID}.desktop").is_file() and (appdir / "drrn-studio.png").is_file()
    assert (appdir / "usr" / "share" / "metainfo" / f"{APP_ID}.appdata.xml").is_file()
    apprun = appdir / "AppRun"
    env = {k: v for k, v in os.environ.items() if k != "ARGV0"}
    assert _sh(apprun, "x.png", env=env).stdout.strip() == "drrn-studio x.png"
    assert _sh(apprun, "--version", env={**env, "ARGV0": "/home/u/bin/drrn"}).stdout.strip() \
        == "drrn --version"
    assert _sh(apprun, "drrn", "models", env=env).stdout.strip() == "drrn models"


def test_appimage_step_says_why_it_stops_without_a_tool(bundle, tmp_path, monkeypatch):
    monkeypatch.delenv("APPIMAGETOOL", raising=False)
    monkeypatch.delenv("APPIMAGE_RUNTIME", raising=False)
    if shutil.which("appimagetool"):
        pytest.skip("appimagetool is installed here: the AppImage would be built")
    appdir = pl.build_appdir(bundle, tmp_path / "AppDir")
    assert pl.build_appimage(appdir, tmp_path / "x.AppImage") is None
    assert not (tmp_path / "x.AppImage").exists()


@pytest.mark.skipif(not shutil.which("readelf"), reason="no readelf (binutils)")
def test_glibc_check_finds_the_highest_version_a_library_needs(tmp_path):
    folder = tmp_path / "bundle"
    folder.mkdir()
    libc_user = Path(shutil.which("ls")).resolve()
    shutil.copy2(libc_user, folder / "prog")
    (folder / "notes.txt").write_text("not ELF")
    top, per_file = pl.glibc_report(folder)
    assert list(per_file) == ["prog"] and top == per_file["prog"]
    objdump = _sh("objdump", "-T", libc_user).stdout if shutil.which("objdump") else ""
    if objdump:  # an independent reading of the same symbol versions
        import re

        versions = {v for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", objdump)}
        assert top == max(versions, key=pl.vtuple)
    lower = ".".join(str(x) for x in (*pl.vtuple(top)[:-1], pl.vtuple(top)[-1] - 1))
    assert pl.main(["glibc-check", str(folder), "--baseline", lower]) == 1
    assert pl.main(["glibc-check", str(folder), "--baseline", top]) == 0


@pytest.mark.skipif(not (shutil.which("mksquashfs") and shutil.which("unsquashfs")),
                    reason="no squashfs-tools here")
def test_appimage_from_a_runtime_is_the_runtime_then_the_appdir_as_squashfs(bundle, tmp_path,
                                                                           monkeypatch):
    """The $APPIMAGE_RUNTIME route (what appimagetool does): runtime bytes, then a squashfs image
    of the AppDir. A stand-in runtime here (the real one is not obtainable on this machine), so
    this checks the layout, not that the result starts."""
    runtime = tmp_path / "runtime"
    runtime.write_bytes(b"\x7fELF-stand-in-runtime" + b"\0" * 4075)  # 4 KiB
    if shutil.which("appimagetool"):
        pytest.skip("appimagetool is on PATH: it takes precedence over the runtime route")
    monkeypatch.delenv("APPIMAGETOOL", raising=False)
    monkeypatch.setenv("APPIMAGE_RUNTIME", str(runtime))
    appdir = pl.build_appdir(bundle, tmp_path / "AppDir")
    out = pl.build_appimage(appdir, tmp_path / "x.AppImage")
    assert out is not None and os.access(out, os.X_OK)
    data = out.read_bytes()
    assert data.startswith(runtime.read_bytes()) and data[4096:4100] == b"hsqs"
    listing = _sh("unsquashfs", "-o", "4096", "-l", "-d", "/squashfs-root", out).stdout
    for name in ("AppRun", f"{APP_ID}.desktop", "drrn-studio.png",
                 "usr/lib/drrn-studio/drrn-studio", "usr/lib/drrn-studio/drrn"):
        assert f"/squashfs-root/{name}" in listing, name
