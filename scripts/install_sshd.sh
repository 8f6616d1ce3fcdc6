#!/usr/bin/env bash
# Install the OpenSSH server and client from Debian's archive, for the tests that run the TUI
# over a real SSH session on loopback (tests/test_faults_terminal.py). Idempotent: it does
# nothing when sshd and ssh are already there. Root only (apt-get); the tests call it when
# they run as root and skip, saying why, otherwise.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if have sshd && have ssh && have ssh-keygen; then
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "install_sshd: needs root to apt-get install openssh-server" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "install_sshd: no apt-get (not Debian/Ubuntu)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
# Offline, fail fast (a test suite waits on this) instead of retrying a mirror for minutes.
APT=(apt-get -q -o Acquire::Retries=0 -o Acquire::http::Timeout=15 -o Acquire::https::Timeout=15)
# The package's postinst starts no daemon in a container without systemd; the tests run their own.
"${APT[@]}" install -y --no-install-recommends openssh-server openssh-client >/dev/null 2>&1 \
  || { "${APT[@]}" update >/dev/null 2>&1 && "${APT[@]}" install -y --no-install-recommends \
         openssh-server openssh-client >/dev/null 2>&1; } \
  || { echo "install_sshd: apt-get install openssh-server failed" >&2; exit 1; }
have sshd || { echo "install_sshd: sshd still missing after install" >&2; exit 1; }
