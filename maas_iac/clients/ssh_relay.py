"""``ssh://`` Docker hosts through the ``ssh`` program, safe in threaded processes.

Each connection to a private Unix socket on this machine (a directory only the user can
enter) becomes one ``ssh … -- host docker system dial-stdio``, so the operator's agent, keys,
``known_hosts`` and ssh configuration apply, exactly as for the docker CLI. The Docker SDK then
talks to that socket.

Why not the SDK's own ssh transport: it starts ``ssh`` with a Python ``preexec_fn``, and a
process that forks while other threads hold locks (the dynamic providers run inside a gRPC
server) can hang or die in the child before ``ssh`` starts; its sockets also fail a request
outright when an idle ``ssh`` has exited, instead of reconnecting. Here the child is started by
``subprocess`` without Python code after the fork, and every HTTP connection gets its own
``ssh``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections import deque
from typing import Optional
from urllib.parse import urlsplit

__all__ = ["SshRelay", "relay_for"]

_CHUNK = 64 * 1024


class SshRelay:
    """A Unix socket whose connections are relayed to the Docker engine behind ``url``."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise ValueError(f"not an ssh:// Docker host: {url!r}")
        self.url = url
        self.command = ["ssh"]
        if parts.username:
            self.command += ["-l", parts.username]
        if parts.port:
            self.command += ["-p", str(parts.port)]
        self.command += ["--", parts.hostname, "docker", "system", "dial-stdio"]
        self._directory = tempfile.mkdtemp(prefix="maas-docker-ssh-")  # 0700
        self.path = os.path.join(self._directory, "docker.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(64)
        self._errors: deque[str] = deque(maxlen=5)
        threading.Thread(target=self._accept, name=f"ssh-relay {parts.hostname}", daemon=True).start()
        atexit.register(self.close)

    @property
    def base_url(self) -> str:
        return f"unix://{self.path}"

    @property
    def last_error(self) -> Optional[str]:
        """The last thing an ``ssh`` that failed printed (e.g. ``Host key verification failed.``)."""
        return self._errors[-1] if self._errors else None

    def close(self) -> None:
        try:
            self._listener.close()
        finally:
            shutil.rmtree(self._directory, ignore_errors=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, bufsize=0)
        except OSError as exc:
            self._errors.append(f"cannot run ssh: {exc}")
            conn.close()
            return
        threading.Thread(target=self._to_ssh, args=(conn, proc), daemon=True).start()
        stderr = threading.Thread(target=self._stderr, args=(proc,), daemon=True)
        stderr.start()
        try:
            while True:
                data = proc.stdout.read(_CHUNK)  # type: ignore[union-attr]
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait()
            stderr.join(5)  # before the client sees the end: last_error is then set
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    @staticmethod
    def _to_ssh(conn: socket.socket, proc: subprocess.Popen) -> None:
        try:
            while True:
                data = conn.recv(_CHUNK)
                if not data:
                    break
                proc.stdin.write(data)  # type: ignore[union-attr]
        except OSError:
            pass
        finally:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass

    def _stderr(self, proc: subprocess.Popen) -> None:
        text = proc.stderr.read().decode(errors="replace").strip()  # type: ignore[union-attr]
        if proc.wait() != 0 and text:
            self._errors.append(text.splitlines()[-1])


_RELAYS: dict[str, SshRelay] = {}
_LOCK = threading.Lock()


def relay_for(url: str) -> SshRelay:
    """The process's one relay for ``url`` (started on first use)."""
    with _LOCK:
        relay = _RELAYS.get(url)
        if relay is None:
            relay = _RELAYS[url] = SshRelay(url)
        return relay
