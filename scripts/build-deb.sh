#!/usr/bin/env bash
# build-deb.sh OUTDIR: builds the Debian package of this tree
# (dpkg-buildpackage -us -uc -b, debian/) and puts historian_*.deb into
# OUTDIR; runs lintian on it when lintian is installed and prints its
# findings (they do not fail the script; a failed build does).
#
# The build runs in a copy of the tree (the files git knows, committed or
# not, and untracked ones it does not ignore) in a temporary directory, so
# neither the worktree nor its parent directory gets build products; the
# copy has no .git, so the git description is taken here and passed on.
# Installs the build tools and Build-Depends it lacks (needs root or sudo).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
cd "$(dirname "$0")/.."
src=$PWD
mkdir -p "$out"
out=$(cd "$out" && pwd)

HIST_DEPS_EXTRA="dpkg-dev debhelper fakeroot lintian ${HIST_DEPS_EXTRA:-}" ./scripts/deps.sh

desc=unknown
if command -v git >/dev/null && [ -e .git ]; then
    desc=$(git describe --always --dirty 2>/dev/null || echo unknown)
fi
version=$(dpkg-parsechangelog -S Version)
# the package's version (debian/changelog, a native package) is the
# project's (project(... VERSION) in CMakeLists.txt)
project_version=$(sed -nE 's/^project\(historian VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
if [ "$version" != "$project_version" ]; then
    echo "build-deb: debian/changelog says $version, CMakeLists.txt $project_version: add a changelog entry (dch -v $project_version)" >&2
    exit 1
fi

work=$(mktemp -d /tmp/historian-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/historian-$version"
if [ "$desc" != unknown ]; then
    git ls-files -z --cached --others --exclude-standard |
        (while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) |
        tar --null -T - -cf - | tar -C "$work/historian-$version" -xf -
else
    tar --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work/historian-$version" -xf -
fi

start=$(date +%s)
(cd "$work/historian-$version" &&
    HIST_GIT_DESCRIBE=$desc DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
    tail -40 "$work/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (log above)" >&2
    exit 1
}
echo "build-deb: built in $(( $(date +%s) - start )) s ($desc)"
debs=("$work"/historian_"$version"_*.deb)
cp "${debs[@]}" "$out/"
for d in "${debs[@]}"; do
    echo "build-deb: $out/$(basename "$d")"
done
if command -v lintian >/dev/null; then
    echo "build-deb: lintian:"
    lintian --display-info "$work"/historian_"$version"_*.changes || true
    echo "build-deb: lintian done"
else
    echo "build-deb: lintian not installed; skipped"
fi
