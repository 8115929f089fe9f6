#!/usr/bin/env bash
# Build, smoke-test and pack the Linux release of DRRN Studio.
#
#   scripts/build_bundle.sh
#
# On a clean machine with python3 (3.11+) and the venv module, this:
#   1. creates a fresh virtual environment (build/venv),
#   2. installs torch (CPU build) first, then the project and PyInstaller,
#   3. runs PyInstaller on build.spec -> dist/drrn-studio/ (drrn-studio, drrn -> drrn-studio,
#      _internal/ with resources/licenses/THIRD_PARTY_NOTICES.txt generated from the metadata),
#   4. fails if a bundled library needs a newer glibc than the baseline (GLIBC_BASELINE),
#   5. smoke-tests that folder (scripts/smoke_bundle.py) and times its start-up,
#   6. packs dist/drrn-studio-VERSION-linux-ARCH.tar.gz (bundle, .desktop, metainfo, icons,
#      install.sh, uninstall.sh) and checks that install.sh / uninstall.sh leave nothing behind,
#   7. builds dist/drrn-studio_VERSION_amd64.deb,
#   8. builds the AppDir and, where appimagetool (or an AppImage runtime) is available,
#      dist/DRRN_Studio-VERSION-x86_64.AppImage; runs both entry points through AppRun,
#   9. prints the sizes and start-up times and writes dist/SHA256SUMS-linux.
#
# Environment knobs:
#   PYTHON=python3          interpreter for the venv
#   TORCH_VERSION=2.13.0    torch release to bundle
#   TORCH_INDEX_URL=...     where to get it; default: pip's configured indexes (set it to the
#                           PyTorch CPU index on a machine without a local CPU wheel: plain
#                           PyPI serves the multi-GB CUDA build on Linux)
#   EXTRA_PACKAGES=...      more pip requirements to bundle (e.g. "ncnn" for that backend)
#   VENV=build/venv         venv location;  REUSE_VENV=1 keeps an existing one (iteration only)
#   SKIP_BUILD=1            reuse the venv and dist/drrn-studio, redo steps 4-9 (iteration only)
#   SMOKE_TIMINGS=3         starts per timed command (medians);  DROP_CACHES=0 to keep the page
#                           cache between timed starts (by default dropped when running as root)
#   GLIBC_BASELINE=2.35     the oldest glibc the bundle must run on (step 4)
#   DEB_COMPRESS=gzip       .deb compression (gzip | xz | zstd); xz is smaller and much slower
#   APPIMAGETOOL, APPIMAGE_RUNTIME   see scripts/package_linux.py
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
VENV="${VENV:-build/venv}"
REUSE_VENV="${REUSE_VENV:-0}"
SKIP_BUILD="${SKIP_BUILD:-0}"
SMOKE_TIMINGS="${SMOKE_TIMINGS:-3}"
DROP_CACHES="${DROP_CACHES:-auto}"
EXTRA_PACKAGES="${EXTRA_PACKAGES:-}"
GLIBC_BASELINE="${GLIBC_BASELINE:-2.35}"
DEB_COMPRESS="${DEB_COMPRESS:-gzip}"

VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' drrn_core/__init__.py)"
ARCH="$(uname -m)"
NAME="drrn-studio-$VERSION-linux-$ARCH"
[ -n "$VERSION" ] || { echo "build_bundle.sh: no __version__ in drrn_core/__init__.py" >&2; exit 1; }

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
SECONDS=0

# -- 1. a fresh venv: what is bundled is exactly what this script installed --------------------
step "venv $VENV"
[ "$SKIP_BUILD" = 1 ] && REUSE_VENV=1
if [ "$REUSE_VENV" = 1 ] && [ -x "$VENV/bin/python" ]; then
    echo "reusing $VENV (REUSE_VENV=1)"
else
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi
case "$VENV" in
    /*) PY="$VENV/bin/python" ;;
    *) PY="$ROOT/$VENV/bin/python" ;;
esac

if [ "$SKIP_BUILD" != 1 ]; then

# -- 2. torch first ------------------------------------------------------------------------------
# Installing the project first would let pip resolve `torch` on its own, which on Linux means
# the CUDA build (several GB of nvidia-* wheels the CPU bundle would then carry).
step "install torch==$TORCH_VERSION, the project, PyInstaller"
if [ -n "$TORCH_INDEX_URL" ]; then
    "$PY" -m pip install --quiet "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"
else
    "$PY" -m pip install --quiet "torch==$TORCH_VERSION"
fi
"$PY" -m pip install --quiet . "pyinstaller>=6.11,<7"
if [ -n "$EXTRA_PACKAGES" ]; then
    # shellcheck disable=SC2086  # a list of requirements
    "$PY" -m pip install --quiet $EXTRA_PACKAGES
fi
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA" if torch.version.cuda else "CPU")'
if "$PY" -c 'import sys, torch; sys.exit(0 if torch.version.cuda else 1)'; then
    echo "build_bundle.sh: got a CUDA torch; set TORCH_INDEX_URL to the PyTorch CPU index" >&2
    exit 1
fi

# Qt's X11 platform plugin links to system libraries (libxcb-cursor, -icccm, -keysyms, ...).
# PyInstaller bundles those it finds here; a missing one makes the bundle unable to open a window
# on desktops that lack it too, so stop now rather than after a 10-minute build.
qxcb="$("$PY" -c 'import os, PySide6; print(os.path.join(os.path.dirname(PySide6.__file__),
    "Qt", "plugins", "platforms", "libqxcb.so"))')"
missing="$(ldd "$qxcb" | awk '/not found/ { print $1 }' | sort -u | tr '\n' ' ')"
if [ -n "$missing" ]; then
    echo "build_bundle.sh: Qt's xcb plugin needs libraries missing here: $missing" >&2
    echo "  Debian/Ubuntu: apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" \
        "libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxkbcommon-x11-0" >&2
    echo "  (ALLOW_MISSING_QT_LIBS=1 builds anyway; the x11 smoke check will then fail)" >&2
    [ "${ALLOW_MISSING_QT_LIBS:-0}" = 1 ] || exit 1
fi

# -- 3. PyInstaller --------------------------------------------------------------------------------
step "pyinstaller build.spec"
rm -rf dist/drrn-studio
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller build.spec
fi  # SKIP_BUILD
BUNDLE="$ROOT/dist/drrn-studio"

# -- 4. glibc baseline ---------------------------------------------------------------------------
step "glibc baseline $GLIBC_BASELINE"
"$PY" scripts/package_linux.py glibc-check "$BUNDLE" --baseline "$GLIBC_BASELINE"

# -- 5. smoke test + start-up timings ---------------------------------------------------------
step "smoke test $BUNDLE"
timing_args=(--timings "$SMOKE_TIMINGS")
if [ "$DROP_CACHES" = 1 ] || { [ "$DROP_CACHES" = auto ] && [ "$(id -u)" = 0 ]; }; then
    timing_args+=(--drop-caches)  # cold start: the bundle is read from disk, not from RAM
fi
REPORT="$ROOT/build/smoke-report.json"
"$PY" scripts/smoke_bundle.py "$BUNDLE" "${timing_args[@]}" --json "$REPORT"

# -- 6. the archive ----------------------------------------------------------------------------
step "pack dist/$NAME.tar.gz"
STAGE="$ROOT/build/package/$NAME"
rm -rf "$ROOT/build/package"
"$PY" scripts/package_linux.py stage "$BUNDLE" "$STAGE"
# Reproducible-ish: fixed owner, order and timestamps (the last commit's), no gzip timestamp.
MTIME="$(git log -1 --format=%ct 2>/dev/null || date +%s)"
GZIP_CMD=(gzip -n -6)
command -v pigz >/dev/null 2>&1 && GZIP_CMD=(pigz -n -6)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$MTIME" \
    -C "$ROOT/build/package" -cf - "$NAME" | "${GZIP_CMD[@]}" >"dist/$NAME.tar.gz"

# -- 6b. the archive installs and uninstalls (into a temporary prefix with a space in it) -------
step "install.sh / uninstall.sh round trip"
TRY="$(mktemp -d)"
trap 'rm -rf "$TRY"' EXIT
tar -C "$TRY" -xzf "dist/$NAME.tar.gz"
PREFIX_DIR="$TRY/prefix with space"
"$TRY/$NAME/install.sh" --prefix "$PREFIX_DIR"
"$PREFIX_DIR/bin/drrn" --version  # through the bin symlink
"$PREFIX_DIR/bin/drrn-studio" --version
APP_ID="io.github.drrnstudio.DRRNStudio"
if command -v desktop-file-validate >/dev/null 2>&1; then
    desktop-file-validate "$PREFIX_DIR/share/applications/$APP_ID.desktop"
fi
if command -v appstreamcli >/dev/null 2>&1; then
    appstreamcli validate --no-net "$PREFIX_DIR/share/metainfo/$APP_ID.metainfo.xml"
fi
"$PREFIX_DIR/lib/drrn-studio/uninstall.sh"
# Nothing may remain: no file, no link, no empty hicolor/*/apps folder.
leftover="$(find "$PREFIX_DIR" -mindepth 1)"
if [ -n "$leftover" ]; then
    echo "build_bundle.sh: uninstall.sh left things behind:" >&2
    echo "$leftover" >&2
    exit 1
fi
echo "install.sh + uninstall.sh ok (nothing left behind)"

# -- 7. the .deb -------------------------------------------------------------------------------
DEB="dist/drrn-studio_${VERSION}_amd64.deb"
step "$DEB"
"$PY" scripts/package_linux.py deb "$BUNDLE" dist --compress "$DEB_COMPRESS"
dpkg-deb --info "$DEB" | sed -n '/Package:/,$p'

# -- 8. AppDir / AppImage ----------------------------------------------------------------------
step "AppDir and AppImage"
APPDIR="$ROOT/build/AppDir"
APPIMAGE="dist/DRRN_Studio-$VERSION-$ARCH.AppImage"
"$PY" scripts/package_linux.py appdir "$BUNDLE" "$APPDIR"
"$APPDIR/AppRun" --version
ARGV0=drrn "$APPDIR/AppRun" --version
"$APPDIR/AppRun" drrn --version
set +e
"$PY" scripts/package_linux.py appimage "$APPDIR" "$APPIMAGE"
appimage_rc=$?
set -e
if [ "$appimage_rc" = 0 ]; then
    # Without FUSE (containers, CI) an AppImage can still run by extracting itself.
    APPIMAGE_EXTRACT_AND_RUN=1 "$APPIMAGE" --version
    APPIMAGE_EXTRACT_AND_RUN=1 "$APPIMAGE" drrn --version
elif [ "$appimage_rc" != 3 ]; then
    exit "$appimage_rc"
fi

# -- 9. the numbers ----------------------------------------------------------------------------
step "summary"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
TAR_BYTES="$(stat -c %s "dist/$NAME.tar.gz")"
UNPACKED_BYTES="$(du -sb "$STAGE" | cut -f1)"
echo "archive:        dist/$NAME.tar.gz"
echo "download size:  $(mib "$TAR_BYTES") ($TAR_BYTES bytes)"
echo "unpacked size:  $(mib "$UNPACKED_BYTES") ($UNPACKED_BYTES bytes)"
echo ".deb:           $(mib "$(stat -c %s "$DEB")") ($DEB_COMPRESS)"
artifacts=("$NAME.tar.gz" "drrn-studio_${VERSION}_amd64.deb")
if [ -f "$APPIMAGE" ]; then
    echo "AppImage:       $(mib "$(stat -c %s "$APPIMAGE")")"
    artifacts+=("$(basename "$APPIMAGE")")
else
    echo "AppImage:       not built (no appimagetool / AppImage runtime here; AppDir in $APPDIR)"
fi
"$PY" - "$REPORT" <<'EOF'
import json, sys

report = json.load(open(sys.argv[1], encoding="utf-8"))
for label, t in report["timings"].items():
    print(f"start-up:       {label:24} {t['first_start_s']:.2f} s {t['first_start_kind']}, "
          f"{t['warm_s']:.2f} s warm (median of {t['runs']})")
weights = report["weights"]
print("default model:  " + (", ".join(weights) if weights else "none bundled (bicubic)"))
EOF
(cd dist && sha256sum "${artifacts[@]}" >SHA256SUMS-linux)
echo "checksums:      dist/SHA256SUMS-linux"
echo "total build time: $((SECONDS / 60)) min $((SECONDS % 60)) s"
