#!/bin/sh
# The digest of what web/dist is built from (web/src, the npm lockfile, build.mjs): build.mjs writes it
# into dist/build.json as "sources", and the Dockerfile's web stage rebuilds the page when the dist/ it
# was given says otherwise (a page built before the last edit). Usage: web-sources.sh WEB_FOLDER
# The same lines as sha256sum prints, in byte order of the paths, hashed again (build.mjs does alike).
set -eu
cd "$1"
{ find src -type f | LC_ALL=C sort; echo package-lock.json; echo build.mjs; } |
  while IFS= read -r path; do sha256sum "$path"; done | sha256sum | cut -d' ' -f1
