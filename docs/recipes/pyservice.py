"""pyservice.py - a Python web service whose native extension allocates, recorded by
heapspan. The extension here is the test suite's hsext (tests/progs/hsext.c: a C
function that leaks 23457 bytes a call); yours is whatever your service imports.

Run it under the shim with Python's allocator routed to malloc, so that the heap of the
interpreter and of the extensions is all in the log:

    PYTHONMALLOC=malloc heapspan run -o app.hsl -- python3 pyservice.py --port 8000

(or, without `heapspan run`, LD_PRELOAD=/usr/local/lib/heapspan/libheapspan.so and
HEAPSPAN_OUTPUT=app.%p.hsl in its environment). Then, while it serves:

    kill -USR2 PID                 # marker 1
    ... the traffic you suspect ...
    kill -USR2 PID                 # marker 2
    heapspan diff --metric live --base-at marker:1 --new-at marker:2 app.hsl app.hsl

ranks the native call sites (and Python's own, through malloc) by what they kept
between the two markers. Python frames appear as the interpreter's C functions; the
extension's functions by name and line. tests/diff-tests.sh (recipe_python) runs this
file: 40 requests between the markers, hsext_leak first at 40 x 23457 bytes.
"""
import argparse
import http.server
import os
import threading

import hsext


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/work":
            hsext.work(4, 1, 23457)  # 3 blocks freed, 1 kept: the leak to find
            body = b"ok\n"
        elif self.path == "/quit":
            body = b"bye\n"
            threading.Thread(target=self.server.shutdown).start()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--ready", help="write 'PID PORT' here once listening")
    args = ap.parse_args()
    server = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write(f"{os.getpid()} {server.server_address[1]}\n")
        os.rename(args.ready + ".tmp", args.ready)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
