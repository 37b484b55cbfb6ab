#!/usr/bin/env bash
# build.sh: builds the Historian Grafana datasource into dist/ (the plugin
# folder Grafana loads as an unsigned plugin: plugin.json, module.js,
# img/logo.svg) and zips it as historian-datasource-<version>.zip, the folder
# inside named by the plugin id, the way Grafana's plugin installer expects.
#   ./build.sh            npm ci when node_modules/ is missing, then build
#   SKIP_TYPECHECK=1      skip tsc (esbuild does not check types)
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund
fi
if [ "${SKIP_TYPECHECK:-0}" != 1 ]; then
    npx --no-install tsc --noEmit -p tsconfig.json
fi
node build.mjs
version=$(node -p "require('./package.json').version")
id=$(node -p "require('./src/plugin.json').id")
zip_name="historian-datasource-${version}.zip"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -r dist "$stage/$id"
rm -f "$zip_name"
if command -v zip >/dev/null 2>&1; then
    (cd "$stage" && zip -qr "$OLDPWD/$zip_name" "$id")
else
    (cd "$stage" && python3 -m zipfile -c "$OLDPWD/$zip_name" "$id")
fi
echo "built dist/ and $zip_name ($(wc -c <"$zip_name") bytes)"
