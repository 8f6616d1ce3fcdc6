"""A throw-away OpenSSH server on 127.0.0.1 for tests that need a real SSH session.

Its host key and the client's key are generated into the test's tmp dir; it logs in only
with that key (no password, no PAM) and dies with the test. When sshd is missing and the
tests run as root, scripts/install_sshd.sh installs it from the Debian archive; otherwise
`start` raises Unavailable with the reason, which the caller turns into a skip.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from conftest import REPO

INSTALLER = REPO / "scripts" / "install_sshd.sh"


class Unavailable(Exception):
    """No SSH server can run here; the message says why."""


def _sshd_binary() -> str | None:
    return shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if os.access(p, os.X_OK)), None)


def _ensure_installed() -> str:
    if _sshd_binary() and shutil.which("ssh") and shutil.which("ssh-keygen"):
        return _sshd_binary()
    if os.geteuid() != 0:
        raise Unavailable("sshd is not installed and the tests do not run as root to install it")
    try:
        out = subprocess.run([str(INSTALLER)], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"{INSTALLER.name} took over 300 s (no package mirror reachable?)") from None
    if out.returncode != 0 or not _sshd_binary():
        raise Unavailable(f"{INSTALLER.name} could not install openssh-server: {out.stderr.strip()[-200:]}")
    return _sshd_binary()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackSshd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.user = getpass.getuser()

    def start(self) -> "LoopbackSshd":
        sshd = _ensure_installed()
        self.root.mkdir(parents=True, exist_ok=True)
        host_key, client_key = self.root / "host_key", self.root / "client_key"
        for key in (host_key, client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                           capture_output=True)
        (self.root / "authorized_keys").write_text((self.root / "client_key.pub").read_text())
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        self.port = _free_port()
        config = self.root / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}", f"PidFile {self.root / 'sshd.pid'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "PrintMotd no", "PrintLastLog no", "Subsystem sftp internal-sftp", ""]))
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.root / "sshd.log", "wb"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"sshd exited: {(self.root / 'sshd.log').read_text()[-300:]}")
            probe = subprocess.run(self.client_args(tty=False) + ["true"], capture_output=True, text=True,
                                   stdin=subprocess.DEVNULL, timeout=15)
            if probe.returncode == 0:
                return self
            time.sleep(0.3)
        raise Unavailable(f"cannot log in to the loopback sshd: {probe.stderr.strip()[-200:]}")

    def client_args(self, *, tty: bool = True) -> list[str]:
        return ["ssh", *(["-tt"] if tty else ["-T"]), "-p", str(self.port), "-i", str(self.root / "client_key"),
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", f"{self.user}@127.0.0.1"]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
