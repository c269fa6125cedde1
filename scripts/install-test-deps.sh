#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine of this project's kind: Chromium for
# the browser tests (driven by playwright-core, which never downloads a browser of its own).
# Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v make >/dev/null 2>&1 || need+=(make)
# the differential PromQL test (tests/tests/metrics_differential.rs) runs a real Prometheus
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# the alerting dispatch tests (tests/tests/alerting_dispatch.rs) drive amtool against Lookout and
# deliver real email to aiosmtpd (Debian's python3, /usr/bin/python3)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# deploy checks (tests/tests/deploy.rs): systemd-analyze verifies the units; kubernetes-validate
# (PyPI, carries the Kubernetes API schemas offline) validates the manifests
if ! command -v systemd-analyze >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends systemd
fi
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate
fi
