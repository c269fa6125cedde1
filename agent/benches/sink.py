#!/usr/bin/env python3
"""Local sinks for agent/benches/tail_ship.sh.

http PORT: accepts POST /v1/logs (what the `lookout` sink sends), answers 200 without decoding.
tcp PORT OUT: accepts TCP connections, counts newline-terminated lines, writes the count to OUT
every 0.2 s (what rsyslog's omfwd sends).
"""
import http.server, os, socket, sys, threading, time

def http_sink(port):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            left = n
            while left > 0:
                left -= len(self.rfile.read(min(left, 1 << 20)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        def log_message(self, *a):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()

def tcp_sink(port, out):
    count = [0]
    lock = threading.Lock()
    def handle(c):
        while True:
            b = c.recv(1 << 20)
            if not b:
                return
            with lock:
                count[0] += b.count(b"\n")
    def report():
        while True:
            with lock:
                n = count[0]
            with open(out + ".tmp", "w") as f:
                f.write(str(n))
            os.replace(out + ".tmp", out)
            time.sleep(0.2)
    threading.Thread(target=report, daemon=True).start()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()

if __name__ == "__main__":
    if sys.argv[1] == "http":
        http_sink(int(sys.argv[2]))
    else:
        tcp_sink(int(sys.argv[2]), sys.argv[3])
