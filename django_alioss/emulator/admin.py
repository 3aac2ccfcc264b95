"""The HTTP control endpoint, served under ``<oss endpoint>/_emulator/`` when enabled.

It lets tests in another process (or a shell) turn the same knobs as the Python API:

==========================  ====================================================
``GET  /_emulator/state``    clock offset, fault rules, request counters
``POST /_emulator/faults``   JSON ``{"service": "oss", "operation": "PutObject",
                             "status": 503, "code": "ServiceUnavailable", ...}``
                             (the keyword arguments of ``Faults.add``)
``DELETE /_emulator/faults`` remove every fault rule (``/faults/<id>``: one)
``POST /_emulator/clock``    ``{"advance": seconds}`` or ``{"offset": seconds}``
``GET  /_emulator/log``      request counters and the last 100 requests
``DELETE /_emulator/log``    clear the request log
``POST /_emulator/token``    rewrite the projected token file now
``POST /_emulator/reset``    clear faults and log, clock back to real time
==========================  ====================================================
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .httpserver import ADMIN_PREFIX, Request, Response

if TYPE_CHECKING:
    from .emulator import Emulator


def _json(status: int, payload: Any) -> Response:
    body = json.dumps(payload, indent=2, sort_keys=True).encode("utf-8")
    return Response(status, [("Content-Type", "application/json")], body)


class AdminEndpoint:
    """Answers the control requests for one emulator."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle(self, request: Request) -> Response:
        path = request.raw_path[len(ADMIN_PREFIX):].strip("/")
        route = (request.method, path.split("/", 1)[0])
        try:
            payload = json.loads(request.body.read() or b"{}")
        except json.JSONDecodeError as exc:
            return _json(400, {"error": f"body is not JSON: {exc}"})
        controls = self.emulator.controls
        try:
            if route == ("GET", "state"):
                return _json(200, self._state())
            if route == ("POST", "faults"):
                fault = controls.faults.add(**payload)
                return _json(201, fault.as_dict())
            if route == ("DELETE", "faults"):
                _, _, fault_id = path.partition("/")
                if fault_id:
                    controls.faults.remove(int(fault_id))
                else:
                    controls.faults.clear()
                return _json(200, {"faults": [f.as_dict() for f in controls.faults.rules()]})
            if route == ("POST", "clock"):
                if "offset" in payload:
                    controls.clock.set_offset(float(payload["offset"]))
                else:
                    controls.clock.advance(float(payload.get("advance", 0)))
                return _json(200, {"offset": controls.clock.offset, "now": controls.clock.now()})
            if route == ("GET", "log"):
                entries = [asdict(e) for e in controls.log.entries()[-100:]]
                return _json(200, {"counters": controls.log.counters(), "recent": entries})
            if route == ("DELETE", "log"):
                controls.log.clear()
                return _json(200, {"counters": {}})
            if route == ("POST", "token"):
                self.emulator.token_file.write()
                return _json(200, {"rotations": self.emulator.token_file.rotations})
            if route == ("POST", "reset"):
                self.emulator.reset()
                return _json(200, self._state())
        except (TypeError, ValueError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(404, {"error": f"no control at {request.method} {request.raw_path}"})

    def _state(self) -> dict[str, Any]:
        controls = self.emulator.controls
        return {
            "clock_offset": controls.clock.offset,
            "faults": [f.as_dict() for f in controls.faults.rules()],
            "counters": controls.log.counters(),
        }
