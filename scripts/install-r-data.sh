#!/usr/bin/env bash
# Unpack R data packages (Debian r-cran-*) for trainwise without installing R:
# `apt-get download` each .deb into a temp folder, `dpkg -x` it, and move the package folder (the one holding
# data/) to ${TRAINWISE_DATA_DIR:-$HOME/.local/share/trainwise}/r/<pkg>/. No apt lock is taken; each package
# appears in place only when complete (unpacked beside it, then renamed); packages already there are skipped.
#   bash scripts/install-r-data.sh                     # modeldata, janeaustenr, dslabs
#   bash scripts/install-r-data.sh modeldata mlbench   # just these
set -euo pipefail

packages=("$@")
[ ${#packages[@]} -eq 0 ] && packages=(modeldata janeaustenr dslabs)
target="${TRAINWISE_DATA_DIR:-$HOME/.local/share/trainwise}/r"

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    echo "note: apt-get/dpkg not found; R data sets (${packages[*]}) not installed." \
        "On Debian or Ubuntu run: bash scripts/install-r-data.sh" >&2
    exit 0
fi

todo=()
for pkg in "${packages[@]}"; do
    [ -d "$target/$pkg/data" ] || todo+=("$pkg")
done
if [ ${#todo[@]} -eq 0 ]; then
    echo "R data packages already in $target: ${packages[*]}"
    exit 0
fi

mkdir -p "$target"
work=$(mktemp -d "$target/.install.XXXXXX")
trap 'rm -rf "$work"' EXIT
debs=()
for pkg in "${todo[@]}"; do debs+=("r-cran-$pkg"); done

download() { (cd "$work" && apt-get download -q "${debs[@]}" >/dev/null 2>&1); }
if ! download; then
    # Package lists may be missing on a fresh machine: refresh them when allowed to, then try once more.
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "note: apt-get download ${debs[*]} failed and package lists cannot be refreshed without root;" \
                "R data sets not installed" >&2
            exit 0
        fi
    fi
    $sudo apt-get update -qq
    if ! download; then
        echo "note: apt-get download ${debs[*]} failed; R data sets not installed" >&2
        exit 0
    fi
fi

for pkg in "${todo[@]}"; do
    deb=$(ls "$work"/r-cran-"$pkg"_*.deb)
    dpkg -x "$deb" "$work/$pkg.unpacked"
    src="$work/$pkg.unpacked/usr/lib/R/site-library/$pkg"
    if [ ! -d "$src/data" ]; then
        echo "error: $deb has no usr/lib/R/site-library/$pkg/data" >&2
        exit 1
    fi
    # Same file system as the target, so the rename is atomic; a concurrent install that won keeps its copy.
    mv -T "$src" "$target/$pkg" 2>/dev/null || [ -d "$target/$pkg/data" ]
    echo "installed R data package $pkg in $target/$pkg"
done
