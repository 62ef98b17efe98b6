"""The model server's health and status probe, for Docker health checks and ``docker exec``.

The official ``tensorflow/serving`` image has no python3, curl or wget, so the probe is a
constant bash script (bash's ``/dev/tcp``, no other program) that asks the REST status
endpoint ``/v1/models/<model>``. The model name and port travel as arguments, never inside
the script's text.

* ``health``: exit 0 only while some version of the model is ``AVAILABLE``;
* ``status``: print the status endpoint's JSON body (exit 1 on a non-200 answer).

Exit 2 means the server did not answer at all.
"""

from __future__ import annotations

from maas_dataplane.contract import REST_PORT

__all__ = ["PROBE_SCRIPT", "health_command", "status_command"]

PROBE_SCRIPT = r"""
mode=$1 model=$2 port=$3
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 2
printf 'GET /v1/models/%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$model" >&3
IFS= read -r -t 5 status <&3 || exit 2
case $status in "HTTP/1."?" 200"*) ok=1 ;; *) ok=0 ;; esac
while IFS= read -r -t 5 line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
done
body=
while IFS= read -r -t 5 line <&3 || [ -n "$line" ]; do body+=$line$'\n'; done
case $mode in
    health) [ "$ok" = 1 ] && case $body in *'"AVAILABLE"'*) exit 0 ;; esac; exit 1 ;;
    *) printf '%s' "$body"; [ "$ok" = 1 ] || exit 1 ;;
esac
"""
"""The probe itself; ``bash -c PROBE_SCRIPT probe MODE MODEL PORT``."""


def _argv(mode: str, model: str, port: int) -> list[str]:
    return ["/bin/bash", "-c", PROBE_SCRIPT, "maas-probe", mode, model, str(port)]


def health_command(model: str, port: int = REST_PORT) -> list[str]:
    """A Docker health check (``CMD`` form) that passes only while ``model`` is AVAILABLE."""
    return ["CMD", *_argv("health", model, port)]


def status_command(model: str, port: int = REST_PORT) -> list[str]:
    """An ``exec`` command that prints the model's REST status JSON."""
    return _argv("status", model, port)
