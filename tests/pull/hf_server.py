#!/usr/bin/env python3
"""hf_server.py: a local stand-in for the two Hugging Face endpoints that
`airgap pull` uses, with misbehaviours chosen by the repo name, for
tests/pull/test_pull.c (python3 standard library only).

    python3 hf_server.py --dir DIR [--port 0] [--log FILE] [--token T] [--lifetime S]

Serves DIR/OWNER/NAME/<files> as the repo OWNER/NAME:
    GET /api/models/OWNER/NAME/tree/main[?recursive=...]
        JSON list: {"type": "file", "oid", "size", "path", "lfs": {"oid": sha256, "size"}}
        (lfs only for .gguf files, like Hugging Face), directories as "type": "directory"
    GET /OWNER/NAME/resolve/main/PATH   the file, with Range support (206 /
        Content-Range, 416 past the end)
    GET /cdn/OWNER/NAME/PATH            where "redirect" repos send /resolve
Prints the port as the first line on stdout, then logs one line per request
to --log: "GET /path range=bytes=N- auth=yes". Exits when its parent process
does (so a crashed test leaves nothing behind) or after --lifetime seconds.

Modes, by words in the repo NAME (combine them, e.g. drop-norange):
    drop      the first GET of each file sends a third of it, then cuts the connection
    norange   ignores Range (always 200 and the whole file)
    corrupt   serves the file with one byte flipped (the listing has the true sha256)
    redirect  /resolve answers 302 to /cdn/... (like Hugging Face's CDN)
    private   needs "Authorization: Bearer TOKEN", else 401 (TOKEN: --token, default hf_testtoken)
    slow      sends 4 KiB every 0.1 s
    stall     the first GET of each file sends 512 bytes, then stalls (sends nothing) for 60 s
    flaky     the first GET of each file answers 503
    garbage   the listing is not JSON
    hostile   the listing has malformed entries (wrong types, ../, bad oids) before the real ones
    paged     the listing comes in pages of 3 entries linked by Link: <...>; rel="next"
An unknown repo answers 404 {"error": "Repository not found"}, like the real API.
"""
import argparse
import hashlib
import http.server
import json
import os
import sys
import threading
import time

ARGS = None
LOCK = threading.Lock()
SEEN = set()          # (mode, repo, path) whose first request was already misbehaved


def first_time(mode, repo, path):
    key = (mode, repo, path)
    with LOCK:
        if key in SEEN:
            return False
        SEEN.add(key)
        return True


def log(line):
    if ARGS.log:
        with LOCK, open(ARGS.log, "a") as f:
            f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # quiet stderr
        pass

    def send_json(self, code, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def repo_dir(self, owner, name):
        d = os.path.join(ARGS.dir, owner, name)
        return d if os.path.isdir(d) else None

    def authorized(self, name):
        if "private" not in name:
            return True
        return self.headers.get("Authorization", "") == "Bearer " + ARGS.token

    def deny(self):
        self.send_json(401, {"error": "Invalid username or password."},
                       [("X-Error-Code", "RepoNotFound"),
                        ("X-Error-Message", "Invalid username or password.")])

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        log("GET %s range=%s auth=%s" % (self.path, self.headers.get("Range", "-"),
                                         "yes" if self.headers.get("Authorization") else "no"))
        parts = [p for p in path.split("/") if p]
        try:
            if len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4:6] == ["tree", "main"]:
                return self.tree(parts[2], parts[3])
            if len(parts) >= 5 and parts[2:4] == ["resolve", "main"]:
                return self.resolve(parts[0], parts[1], "/".join(parts[4:]))
            if len(parts) >= 4 and parts[0] == "cdn":
                return self.serve(parts[1], parts[2], "/".join(parts[3:]), cdn=True)
            self.send_json(404, {"error": "Not Found"})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def tree(self, owner, name):
        d = self.repo_dir(owner, name)
        if d is None:
            return self.send_json(404, {"error": "Repository not found"},
                                  [("X-Error-Code", "RepoNotFound")])
        if not self.authorized(name):
            return self.deny()
        out = []
        for root, dirs, files in os.walk(d):
            dirs.sort()
            for dn in dirs:
                rel = os.path.relpath(os.path.join(root, dn), d)
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": rel})
            for fn in sorted(files):
                full = os.path.join(root, fn)
                rel = os.path.relpath(full, d)
                with open(full, "rb") as f:
                    data = f.read()
                e = {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data),
                     "path": rel}
                if fn.endswith(".gguf"):
                    e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                                "pointerSize": 134}
                out.append(e)
        if "garbage" in name:  # not JSON at all
            body = b"<html>oops</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if "hostile" in name:  # malformed entries around the real ones
            out = [{"path": 5}, {"type": "file"}, {"type": "file", "path": "N-Q4_0.gguf"},
                   {"type": "file", "path": "../X-Q8_0.gguf", "size": 10,
                    "lfs": {"oid": "0" * 64, "size": 10}},
                   {"type": "file", "path": "Y-Q6_K.gguf", "size": -5},
                   {"type": "file", "path": "Z-Q5_0.gguf", "size": 1e300},
                   {"type": "file", "path": "W-Q2_K.gguf", "size": 1, "lfs": {"oid": "zz"}},
                   {"type": "file", "path": ".hidden/V-Q3_K.gguf\n", "size": 1},
                   7, None, [], "str"] + out
        if "paged" in name:  # 3 entries per page, Link: <...&cursor=N>; rel="next"
            q = self.path.split("?", 1)[1] if "?" in self.path else ""
            cur = 0
            for kv in q.split("&"):
                if kv.startswith("cursor="):
                    cur = int(kv[7:])
            headers = []
            if cur + 3 < len(out):
                host = self.headers.get("Host", "127.0.0.1")
                headers.append(("Link", '<http://%s/api/models/%s/%s/tree/main?recursive=true'
                                '&cursor=%d>; rel="next"' % (host, owner, name, cur + 3)))
            return self.send_json(200, out[cur:cur + 3], headers)
        self.send_json(200, out)

    def resolve(self, owner, name, rel):
        if self.repo_dir(owner, name) is None:
            return self.send_json(404, {"error": "Repository not found"})
        if not self.authorized(name):
            return self.deny()
        if "redirect" in name:
            host = self.headers.get("Host", "127.0.0.1")
            self.send_response(302)
            self.send_header("Location", "http://%s/cdn/%s/%s/%s?sig=abc" % (host, owner, name, rel))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.serve(owner, name, rel)

    def serve(self, owner, name, rel, cdn=False):
        d = self.repo_dir(owner, name)
        full = os.path.join(d, rel) if d else None
        if not full or ".." in rel.split("/") or not os.path.isfile(full):
            return self.send_json(404, {"error": "Entry not found"},
                                  [("X-Error-Code", "EntryNotFound")])
        with open(full, "rb") as f:
            data = bytearray(f.read())
        size = len(data)
        if "corrupt" in name and size:
            data[size // 2] ^= 0xFF
        if "flaky" in name and first_time("flaky", name, rel):
            return self.send_json(503, {"error": "Service Unavailable"})
        start = 0
        rng = self.headers.get("Range")
        if rng and "norange" not in name and rng.startswith("bytes="):
            a = rng[6:].split("-", 1)[0]
            start = int(a) if a.isdigit() else 0
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        else:
            self.send_response(200)
        body = bytes(data[start:])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", '"%s"' % hashlib.sha256(bytes(data)).hexdigest())
        self.end_headers()
        if "drop" in name and first_time("drop", name, rel):
            self.wfile.write(body[: max(1, size // 3)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if "stall" in name and first_time("stall", name, rel):
            self.wfile.write(body[:512])
            self.wfile.flush()
            time.sleep(60)
            return
        if "slow" in name:
            for i in range(0, len(body), 4096):
                self.wfile.write(body[i:i + 4096])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.wfile.write(body)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None)
    ap.add_argument("--token", default="hf_testtoken")
    ap.add_argument("--lifetime", type=float, default=300.0)
    ARGS = ap.parse_args()

    # Never outlive the test: exit when the parent goes away or after --lifetime s.
    def watchdog(ppid, deadline):
        while os.getppid() == ppid and time.time() < deadline:
            time.sleep(0.2)
        os._exit(0)
    threading.Thread(target=watchdog, args=(os.getppid(), time.time() + ARGS.lifetime),
                     daemon=True).start()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
