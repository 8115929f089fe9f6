#!/usr/bin/env bash
# Build, smoke-test and pack the Linux release of DRRN Studio.
#
#   scripts/build_bundle.sh
#
# On a clean machine with python3 (3.11+) and the venv module, this:
#   1. creates a fresh virtual environment (build/venv),
#   2. installs torch (CPU build) first, then the project and PyInstaller,
#   3. runs PyInstaller on build.spec -> dist/drrn-studio/ (drrn-studio + drrn + _internal/),
#   4. smoke-tests that folder (scripts/smoke_bundle.py) and times its start-up,
#   5. packs dist/drrn-studio-VERSION-linux-ARCH.tar.gz (bundle, .desktop, icons, install.sh,
#      uninstall.sh), checks that install.sh / uninstall.sh work from the unpacked archive,
#   6. prints the download size, unpacked size and start-up times.
#
# Environment knobs:
#   PYTHON=python3          interpreter for the venv
#   TORCH_VERSION=2.13.0    torch release to bundle
#   TORCH_INDEX_URL=...     where to get it; default: pip's configured indexes (set it to the
#                           PyTorch CPU index on a machine without a local CPU wheel: plain
#                           PyPI serves the multi-GB CUDA build on Linux)
#   VENV=build/venv         venv location;  REUSE_VENV=1 keeps an existing one (iteration only)
#   SKIP_BUILD=1            reuse the venv and dist/drrn-studio, redo steps 4-6 (iteration only)
#   SMOKE_TIMINGS=3         starts per timed command (medians);  DROP_CACHES=0 to keep the page
#                           cache between timed starts (by default dropped when running as root)
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

# -- 4. smoke test + start-up timings ---------------------------------------------------------
step "smoke test $BUNDLE"
timing_args=(--timings "$SMOKE_TIMINGS")
if [ "$DROP_CACHES" = 1 ] || { [ "$DROP_CACHES" = auto ] && [ "$(id -u)" = 0 ]; }; then
    timing_args+=(--drop-caches)  # cold start: the bundle is read from disk, not from RAM
fi
REPORT="$ROOT/build/smoke-report.json"
"$PY" scripts/smoke_bundle.py "$BUNDLE" "${timing_args[@]}" --json "$REPORT"

# -- 5. the archive ----------------------------------------------------------------------------
step "pack dist/$NAME.tar.gz"
STAGE="$ROOT/build/package/$NAME"
rm -rf "$ROOT/build/package"
mkdir -p "$STAGE/share/applications" "$STAGE/share/icons/hicolor/scalable/apps"
cp -al "$BUNDLE" "$STAGE/drrn-studio" 2>/dev/null || cp -a "$BUNDLE" "$STAGE/drrn-studio"
install -m 755 packaging/linux/install.sh packaging/linux/uninstall.sh "$STAGE/"
install -m 644 packaging/linux/drrn-studio.desktop "$STAGE/share/applications/"
install -m 644 resources/icons/drrn-studio.svg "$STAGE/share/icons/hicolor/scalable/apps/"
for png in resources/icons/drrn-studio-*.png; do
    size="${png##*-}"; size="${size%.png}"
    install -D -m 644 "$png" "$STAGE/share/icons/hicolor/${size}x${size}/apps/drrn-studio.png"
done
cat >"$STAGE/README.txt" <<EOF
DRRN Studio $VERSION for Linux ($ARCH)

Run without installing:  ./drrn-studio/drrn-studio   (the app)
                         ./drrn-studio/drrn --help   (the command-line tool)
Install for this user:   ./install.sh    (~/.local; --prefix DIR for elsewhere)
Uninstall:               ~/.local/lib/drrn-studio/uninstall.sh
EOF
# Reproducible-ish: fixed owner, order and timestamps (the last commit's), no gzip timestamp.
MTIME="$(git log -1 --format=%ct 2>/dev/null || date +%s)"
GZIP_CMD=(gzip -n -6)
command -v pigz >/dev/null 2>&1 && GZIP_CMD=(pigz -n -6)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$MTIME" \
    -C "$ROOT/build/package" -cf - "$NAME" | "${GZIP_CMD[@]}" >"dist/$NAME.tar.gz"

# -- 5b. the archive installs and uninstalls (into a temporary prefix with a space in it) -------
step "install.sh / uninstall.sh round trip"
TRY="$(mktemp -d)"
trap 'rm -rf "$TRY"' EXIT
tar -C "$TRY" -xzf "dist/$NAME.tar.gz"
PREFIX_DIR="$TRY/prefix with space"
"$TRY/$NAME/install.sh" --prefix "$PREFIX_DIR"
"$PREFIX_DIR/bin/drrn" --version  # through the bin symlink
if command -v desktop-file-validate >/dev/null 2>&1; then
    desktop-file-validate "$PREFIX_DIR/share/applications/drrn-studio.desktop"
fi
"$PREFIX_DIR/lib/drrn-studio/uninstall.sh"
# Caches that update-desktop-database / gtk-update-icon-cache keep per folder may remain.
leftover="$(find "$PREFIX_DIR" \( -type f -o -type l \) \
    ! -name mimeinfo.cache ! -name icon-theme.cache)"
if [ -n "$leftover" ]; then
    echo "build_bundle.sh: uninstall.sh left files behind:" >&2
    echo "$leftover" >&2
    exit 1
fi
echo "install.sh + uninstall.sh ok"

# -- 6. the numbers ----------------------------------------------------------------------------
step "summary"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
TAR_BYTES="$(stat -c %s "dist/$NAME.tar.gz")"
UNPACKED_BYTES="$(du -sb "$STAGE" | cut -f1)"
echo "archive:        dist/$NAME.tar.gz"
echo "download size:  $(mib "$TAR_BYTES") ($TAR_BYTES bytes)"
echo "unpacked size:  $(mib "$UNPACKED_BYTES") ($UNPACKED_BYTES bytes)"
"$PY" - "$REPORT" <<'EOF'
import json, sys

report = json.load(open(sys.argv[1], encoding="utf-8"))
for label, t in report["timings"].items():
    print(f"start-up:       {label:24} {t['first_start_s']:.2f} s {t['first_start_kind']}, "
          f"{t['warm_s']:.2f} s warm (median of {t['runs']})")
weights = report["weights"]
print("default model:  " + (", ".join(weights) if weights else "none bundled (bicubic)"))
EOF
echo "total build time: $((SECONDS / 60)) min $((SECONDS % 60)) s"
