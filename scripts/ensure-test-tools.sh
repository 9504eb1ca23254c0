#!/bin/sh
# Makes sure the deploy and replica tests have their tools, from Debian's packages (as
# ensure-chromium.sh does for Chromium):
#   kubectl  (kubernetes-client)  renders deploy/ with `kubectl kustomize`
#   nginx    (nginx)              the load balancer in front of three replicas
#   promtool (prometheus)         checks deploy/alerts.yaml; only this one binary is taken from the
#                                 package (unpacked into the venv): no Prometheus server is installed
# Root with apt-get: kubectl and nginx are installed with apt-get. Without root, any Debian/Ubuntu
# apt can still download a package: the binary is unpacked into $VENV/bin. Without apt (a laptop on
# another system) nothing is installed and those tests are skipped, each naming what it needs.
# Never fails `make test`: a missing tool is reported by the tests themselves.
set -u
VENV_BIN="${VENV:-.venv}/bin"
PATH="$VENV_BIN:$PATH:/usr/sbin:/sbin"

have() { command -v "$1" >/dev/null 2>&1; }

unpack() {  # unpack(package, path inside the package): the one binary, into the venv
  work=$(mktemp -d) || return 1
  if (cd "$work" && apt-get download -qq "$1" >/dev/null 2>&1) || \
     { [ "$(id -u)" = "0" ] && apt-get update -qq && (cd "$work" && apt-get download -qq "$1" >/dev/null 2>&1); }; then
    dpkg-deb -x "$work"/*.deb "$work/root" && cp "$work/root/$2" "$VENV_BIN/" && echo "unpacked $2 from Debian's $1 into $VENV_BIN"
  fi
  rm -rf "$work"
}

install_or_unpack() {  # install_or_unpack(command, package, path inside the package)
  have "$1" && return 0
  have apt-get || { echo "note: $1 not found and no apt-get here; the tests that need it are skipped" >&2; return 0; }
  if [ "$(id -u)" = "0" ]; then
    echo "$1 is missing: installing Debian's package (apt-get install $2)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  fi
  have "$1" || unpack "$2" "$3"
  have "$1" || echo "note: could not install $1 (Debian package $2); the tests that need it will say so" >&2
}

mkdir -p "$VENV_BIN"
install_or_unpack kubectl kubernetes-client usr/bin/kubectl
install_or_unpack nginx nginx usr/sbin/nginx
have promtool || { have apt-get && unpack prometheus usr/bin/promtool; }
have promtool || echo "note: promtool not available; deploy/alerts.yaml is checked as YAML only" >&2
exit 0
