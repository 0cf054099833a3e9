"""Records the raw requests an SDK sends, as fixtures for fast decoder tests.

Usage: python record.py OUT_DIR -- SDK_SCRIPT [ARGS...]
Serves on 127.0.0.1 (a free port), runs SDK_SCRIPT with the URL and the token
"fixture_token" as its first two arguments (then ARGS), answers every request
200 {"status": 1}, and writes each request to OUT_DIR/NN-<path>.json as
{"method", "path", "query", "headers": {content-type, content-encoding}, "body_base64"}.
"""
import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out = sys.argv[1]
script = sys.argv[3:]
os.makedirs(out, exist_ok=True)
count = [0]
lock = threading.Lock()


class Recorder(BaseHTTPRequestHandler):
    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path, _, query = self.path.partition("?")
        with lock:
            count[0] += 1
            name = f"{count[0]:02d}-{path.strip('/').replace('/', '_') or 'root'}.json"
        with open(os.path.join(out, name), "w") as f:
            json.dump({
                "method": self.command, "path": path, "query": query,
                "headers": {k: self.headers[k] for k in ("Content-Type", "Content-Encoding")
                            if self.headers.get(k)},
                "body_base64": base64.b64encode(body).decode(),
            }, f, indent=1)
        reply = b'{"status": 1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = handle_any

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"
result = subprocess.run([sys.executable, script[0], url, "fixture_token", *script[1:]])
server.shutdown()
sys.exit(result.returncode)
