#!/usr/bin/env bash
# Debian packages the integration tests run for real. Idempotent: installs only what is missing.
set -euo pipefail
packages=()
need() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }
need_file() { compgen -G "$1" >/dev/null || packages+=("$2"); }
# (filled in as integration tests need real services: prometheus, alertmanager, chromium, postgresql)
need_file "/usr/lib/postgresql/*/bin/postgres" postgresql # the PostgreSQL store backend is tested for real
need openssl openssl # tests/unit/collect/test_scrape_tls.py makes a CA and certificates for mutual TLS
need chromium chromium # flame graph HTML is opened headless in tests/live/test_flame_browser.py
need prometheus prometheus # fleet tests scrape real Go services (tests/support/prometheus_live.py); promtool tests rules
need promtool prometheus
need prometheus-alertmanager prometheus-alertmanager # Alertmanager -> leaksleuth serve tests
need prometheus-node-exporter prometheus-node-exporter # node_sockstat_* for the network-buffer finding (tests/live/test_netbuf_live.py)
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${packages[*]} (run as root or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
