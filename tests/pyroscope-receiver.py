#!/usr/bin/env python3
"""pyroscope-receiver.py - a stand-in for a Pyroscope server's /ingest, on the loopback,
for tests/flame-tests.sh:

    pyroscope-receiver.py PORTFILE OUTDIR [STATUS]

Listens on 127.0.0.1 (a port the kernel picks, written to PORTFILE), takes one POST,
answers STATUS (default 200), and exits; it gives up after 30 seconds without one.
OUTDIR/request.json gets the path, the query's parameters and the headers;
OUTDIR/profile.pb.gz the multipart body's "profile" part, as Pyroscope reads it."""
import email.parser
import email.policy
import http.server
import json
import os
import sys
import urllib.parse

portfile, outdir = sys.argv[1], sys.argv[2]
status = int(sys.argv[3]) if len(sys.argv) > 3 else 200


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        url = urllib.parse.urlsplit(self.path)
        # parse_qs decodes the name's braces and commas as Pyroscope does
        query = {k: v for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        req = {"path": url.path, "query": query, "headers": dict(self.headers.items()),
               "body_bytes": len(body)}
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            parts = {}
            for part in msg.iter_parts():
                parts[part.get_param("name", header="content-disposition")] = part.get_payload(
                    decode=True)
            req["parts"] = sorted(k for k in parts if k)
            if "profile" in parts:
                with open(os.path.join(outdir, "profile.pb.gz"), "wb") as f:
                    f.write(parts["profile"])
        with open(os.path.join(outdir, "request.json"), "w") as f:
            json.dump(req, f, indent=1)
        answer = b"" if status == 200 else b"bad profile: the receiver says no\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
server.timeout = 30
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.handle_request()
