#!/bin/sh
# Makes sure `make lint` has Node.js and npm for TypeScript's check of app/static/js (the page itself
# needs neither: there is no build step). Debian's packages are enough (TypeScript 5 needs Node 14.17+).
set -e
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Node.js or npm is missing: installing Debian's packages (apt-get install nodejs npm)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  exit 0
fi
cat >&2 <<'MSG'
The JavaScript check needs Node.js and npm and they were not found.
  Debian/Ubuntu:  sudo apt-get install nodejs npm
  elsewhere:      install Node.js 18 or newer (npm comes with it)
MSG
exit 1
