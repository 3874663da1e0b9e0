#!/usr/bin/env bash
# Installs the Debian packages avatar needs, when missing: espeak-ng, the phonemizer
# that coqui models trained on phonemes call; iproute2, whose `ip netns` runs each service
# on its own network node in `avatar multinode` and its tests.
# prometheus (with promtool), which the observability tests run against the stack;
# redis-server, which the conversation store tests start on a free port of their own.
# chromium, the browser the web page's tests and benchmarks/browser.py drive headless through
# playwright (Debian's build: playwright's own browser download needs the internet).
# Python dependencies, including the espeak-ng library the default voice uses, come
# from PyPI into .venv.
set -euo pipefail
packages=(espeak-ng iproute2 prometheus redis-server chromium)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "warning: cannot install ${missing[*]} (no apt-get); install them with your package manager" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
