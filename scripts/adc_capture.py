#!/usr/bin/env python3
"""Capture the Admin API requests a real ADC sends, for tests/tests/adc_replay.rs.

  adc_capture.py relay LISTEN_PORT ADMIN_PORT LOG
      An HTTP relay on 127.0.0.1:LISTEN_PORT in front of the Admin API on 127.0.0.1:ADMIN_PORT:
      every exchange is appended to LOG as one JSON line (method, path, body, status, Server
      header, response). Point ADC at the relay (ADC_SERVER=http://127.0.0.1:LISTEN_PORT).
      Lines {"mark": "<step>"} written into LOG between ADC commands name the steps.

  adc_capture.py fixture LOG CERT_PEM_FILE KEY_PEM_FILE PORTS > tests/fixtures/adc_session.jsonl
      The replay fixture: one line per request ({step, method, path, body, status, response}),
      bodies parsed as JSON, volatile fields dropped (create_time, update_time, createdIndex,
      modifiedIndex), the certificate and key PEMs and the encrypted stored key replaced by
      "${CERT}", "${KEY}", "${ENCRYPTED}", and the ports named in PORTS
      ("TCP_PORT=19100,TLS_PORT=19443,BACKEND_A=17001,BACKEND_B=17002") replaced by "${NAME}"
      where they appear as `server_port` or a node `port`.

See docs/adc.md for the session this was used with.
"""

import http.client
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VOLATILE = {"create_time", "update_time", "createdIndex", "modifiedIndex"}


def relay(listen_port, admin_port, log_path):
    log = open(log_path, "a", buffering=1)

    class Relay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            log.write(json.dumps({
                "method": self.command, "path": self.path,
                "body": body.decode() if body else None,
                "status": resp.status, "server": resp.getheader("Server"),
                "response": data.decode(errors="replace"),
            }) + "\n")
            self.send_response_only(resp.status)
            for name, value in resp.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _any

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", listen_port), Relay).serve_forever()


def normalise(value, cert, key, ports, parent_key=None):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in VOLATILE:
                continue
            if k == "key" and isinstance(v, str) and "cert" in value and v != key:
                out[k] = "${ENCRYPTED}"
                continue
            out[k] = normalise(v, cert, key, ports, k)
        return out
    if isinstance(value, list):
        return [normalise(v, cert, key, ports, parent_key) for v in value]
    if isinstance(value, str):
        return {cert: "${CERT}", key: "${KEY}"}.get(value, value)
    if isinstance(value, int) and parent_key in ("server_port", "port") and value in ports:
        return "${" + ports[value] + "}"
    return value


def fixture(log_path, cert_path, key_path, ports_spec):
    cert = open(cert_path).read()
    key = open(key_path).read()
    ports = {}
    for pair in ports_spec.split(","):
        name, port = pair.split("=")
        ports[int(port)] = name
    step = None
    for line in open(log_path):
        record = json.loads(line)
        if "mark" in record:
            step = record["mark"]
            continue
        body = json.loads(record["body"]) if record["body"] else None
        try:
            response = json.loads(record["response"])
        except ValueError:
            response = record["response"]
        print(json.dumps({
            "step": step,
            "method": record["method"],
            "path": record["path"],
            "body": normalise(body, cert, key, ports),
            "status": record["status"],
            "response": normalise(response, cert, key, ports),
        }, separators=(",", ":")))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "relay":
        relay(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 6 and sys.argv[1] == "fixture":
        fixture(*sys.argv[2:])
    else:
        sys.exit(__doc__)
