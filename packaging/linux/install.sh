#!/usr/bin/env bash
# Install DRRN Studio for the current user, without root.
#
#   ./install.sh [--prefix DIR] [--force]
#
# Default prefix: ~/.local. What goes where:
#   PREFIX/lib/drrn-studio/                      the app folder (executables + _internal/)
#   PREFIX/bin/drrn-studio, PREFIX/bin/drrn      symbolic links into it
#   DATA/applications/APP_ID.desktop             the menu entry (DATA: PREFIX/share, or
#   DATA/metainfo/APP_ID.metainfo.xml            $XDG_DATA_HOME when no --prefix is given;
#   DATA/icons/hicolor/*/apps/drrn-studio.*      APP_ID = io.github.drrnstudio.DRRNStudio)
# and PREFIX/lib/drrn-studio/uninstall.sh, which removes exactly what the install-manifest.txt
# beside it lists, and the folders this script created once they are empty. Running install.sh
# again upgrades in place. Your settings, log and imported models live elsewhere (XDG folders)
# and are neither touched by installing nor by uninstalling.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

prefix=""
force=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --force) force=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/drrn-studio"
if [ ! -x "$src/drrn-studio" ] || [ ! -x "$src/drrn" ]; then
    echo "install.sh: no DRRN Studio bundle at $src (run this from the unpacked archive)" >&2
    exit 1
fi

if [ -n "$prefix" ]; then
    mkdir -p "$prefix"
    prefix="$(cd "$prefix" && pwd)"
    data="$prefix/share"
else
    prefix="$HOME/.local"
    data="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
app="$prefix/lib/drrn-studio"
bin="$prefix/bin"

# Never replace a `drrn` or `drrn-studio` that is not ours (e.g. a `pip install --user` one).
for name in drrn-studio drrn; do
    target="$bin/$name"
    if [ -e "$target" ] || [ -L "$target" ]; then
        if [ "$(readlink "$target" 2>/dev/null || true)" != "$app/$name" ] && [ "$force" = 0 ]; then
            echo "install.sh: $target exists and is not from a previous DRRN Studio install;" \
                "move it away or rerun with --force" >&2
            exit 1
        fi
    fi
done

APP_ID="io.github.drrnstudio.DRRNStudio"
manifest="$app/install-manifest.txt"
created=()  # folders this install made (uninstall.sh removes them again once empty)

# mkdir -p that remembers which folders it created.
make_dir() {
    local dir="$1" missing=()
    while [ ! -d "$dir" ]; do
        missing+=("$dir")
        dir="$(dirname "$dir")"
    done
    mkdir -p "$1"
    created+=(${missing[@]+"${missing[@]}"})
}

# An upgrade: remove the previous install's files (names may have changed between versions),
# keeping the folders it created on record.
if [ -f "$manifest" ]; then
    while IFS= read -r line; do
        case "$line" in
            dir:*) created+=("${line#dir:}") ;;
            "$app"/*) ;;
            *) if [ -L "$line" ] || [ -f "$line" ]; then rm -f "$line"; fi ;;
        esac
    done <"$manifest"
fi

echo "Installing DRRN Studio into $app"
make_dir "$prefix/lib"
make_dir "$bin"
make_dir "$data/applications"
# Copy next to the old version first and swap at the end, so an interrupted copy never leaves
# a half-installed app behind.
rm -rf "$app.new"
cp -a "$src" "$app.new"
install -m 755 "$here/uninstall.sh" "$app.new/uninstall.sh"
if [ -d "$app" ]; then
    rm -rf "$app.old"
    mv "$app" "$app.old"
fi
mv "$app.new" "$app"
rm -rf "$app.old"

: >"$manifest"
record() { printf '%s\n' "$1" >>"$manifest"; }

for name in drrn-studio drrn; do
    ln -sfn "$app/$name" "$bin/$name"
    record "$bin/$name"
done

# The menu entry, pointing at the absolute path (quoted, as the Desktop Entry spec asks, when
# it contains a space). Paths with characters the spec would need escaped fall back to PATH.
exe="$app/drrn-studio"
case "$exe" in
    *[\"\`\$\\%]*) exec_value="drrn-studio %F" ;;
    *" "*) exec_value="\"$exe\" %F" ;;
    *) exec_value="$exe %F" ;;
esac
desktop="$data/applications/$APP_ID.desktop"
while IFS= read -r line; do
    case "$line" in
        Exec=*) printf 'Exec=%s\n' "$exec_value" ;;
        TryExec=*) printf 'TryExec=%s\n' "$exe" ;;
        *) printf '%s\n' "$line" ;;
    esac
done <"$here/share/applications/$APP_ID.desktop" >"$desktop"
chmod 644 "$desktop"
record "$desktop"

for src in "$here"/share/icons/hicolor/*/apps/drrn-studio.png \
           "$here"/share/icons/hicolor/scalable/apps/drrn-studio.svg \
           "$here/share/metainfo/$APP_ID.metainfo.xml"; do
    rel="${src#"$here/share/"}"
    make_dir "$(dirname "$data/$rel")"
    install -m 644 "$src" "$data/$rel"
    record "$data/$rel"
done
for dir in ${created[@]+"${created[@]}"}; do
    record "dir:$dir"
done

# Let menus and icon themes notice now rather than at the next login (best effort: these
# tools are absent on minimal systems, and their failure changes nothing installed).
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$data/applications" || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$data/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t -f "$data/icons/hicolor" || true
fi

echo "Installed: $bin/drrn-studio and $bin/drrn (links), menu entry $desktop"
echo "Uninstall: $app/uninstall.sh"
case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "Note: $bin is not on your PATH; add it to run 'drrn' and 'drrn-studio' by name." ;;
esac
