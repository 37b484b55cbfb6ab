#!/usr/bin/env bash
# build.sh: rebuilds the trend viewer's assets (dist/, committed: the C
# build embeds them and needs no Node) from src/ with esbuild and uPlot
# from npm (versions pinned in package-lock.json).
#   ./build.sh          npm ci when node_modules/ is missing, then build dist/
#   ./build.sh --check  build into a temporary folder and compare it with
#                       dist/: exit 1 and show the difference when the
#                       committed assets do not match the sources
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund
fi
if [ "${1:-}" = "--check" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    node build.mjs "$tmp/dist" >/dev/null
    if ! diff -r "$tmp/dist" dist >/dev/null; then
        echo "viewer: dist/ does not match src/ (run tools/viewer/build.sh and commit dist/):"
        diff -r "$tmp/dist" dist | head -n 20
        exit 1
    fi
    echo "viewer: dist/ matches src/"
    exit 0
fi
node build.mjs
total=0
for f in dist/*; do total=$((total + $(gzip -9c "$f" | wc -c))); done
echo "viewer: $(cat dist/* | wc -c) bytes, $total gzipped"
