#!/usr/bin/env bash
# Remove a DRRN Studio installed by install.sh.
#
#   uninstall.sh [--prefix DIR]
#
# Run the copy in the installed folder (PREFIX/lib/drrn-studio/uninstall.sh), or this one from
# the unpacked archive with the same --prefix given to install.sh (default ~/.local). It removes
# only what install-manifest.txt lists and the app folder; links that no longer point into the
# app folder are left alone. Settings, the log and imported models are kept (see
# docs/INSTALLERS.md for where they live).
set -euo pipefail

prefix=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "uninstall.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "$prefix" ] && [ -f "$here/install-manifest.txt" ]; then
    app="$here"
else
    app="${prefix:-$HOME/.local}/lib/drrn-studio"
fi
manifest="$app/install-manifest.txt"
# Guard the rm -rf below: only a folder that install.sh made (manifest + bundle) is removed.
if [ ! -f "$manifest" ] || [ ! -d "$app/_internal" ]; then
    echo "uninstall.sh: no DRRN Studio installed at $app" >&2
    exit 1
fi

dirs=()
while IFS= read -r path; do
    [ -n "$path" ] || continue
    case "$path" in
        dir:*) dirs+=("${path#dir:}"); continue ;;
    esac
    if [ -L "$path" ]; then
        # A bin link: remove it only while it still points into this install.
        case "$(readlink "$path")" in
            "$app"/*) rm -f "$path" ;;
            *) echo "kept $path (no longer points into $app)" ;;
        esac
    elif [ -f "$path" ]; then
        rm -f "$path"
    fi
done <"$manifest"

data_dirs="$(sed -n 's#/applications/[^/]*\.desktop$##p' "$manifest")"
cd /  # do not sit inside the folder being removed
rm -rf "$app"

if command -v update-desktop-database >/dev/null 2>&1; then
    while IFS= read -r data; do
        [ -z "$data" ] || update-desktop-database -q "$data/applications" || true
    done <<<"$data_dirs"
fi
# Caches the desktop tools keep per folder: drop them where nothing else is left beside them.
for path in ${dirs[@]+"${dirs[@]}"}; do
    for cache in "$path/mimeinfo.cache" "$path/icon-theme.cache"; do
        if [ -f "$cache" ] && [ "$(find "$path" -mindepth 1 | head -n 2 | wc -l)" = 1 ]; then
            rm -f "$cache"
        fi
    done
done
# The folders install.sh created, deepest first, where they are empty now (never a folder
# that was there before, such as an existing hicolor theme or ~/.local/bin).
printf "%s\n" ${dirs[@]+"${dirs[@]}"} | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2- |
    while IFS= read -r dir; do
        [ -n "$dir" ] && rmdir "$dir" 2>/dev/null || true
    done

echo "Removed DRRN Studio from $app (settings, log and imported models were kept)."
