"""Raw HTTP/1.1 on sockets, for tests that must see exactly the bytes that cross the
gateway: a scripted backend (`RawBackend`) that records each request as received, and a
client (`raw_http`, `request_bytes`) that reads the response head and body as sent."""

import json
import socket
import threading
import time

# --- a scripted raw-socket backend ------------------------------------------------------

def _read_http_message(sock, buf=b""):
    """Reads one HTTP/1.1 request: (head lines, body, trailers, rest). Handles
    content-length and chunked bodies (with trailers)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
    names = {k.lower(): v for k, v in headers}
    body, trailers = b"", []

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk

    if "chunked" in names.get("transfer-encoding", "").lower():
        while True:
            while b"\r\n" not in buf:
                need(len(buf) + 1)
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while not (buf.startswith(b"\r\n") or b"\r\n\r\n" in buf):
                    need(len(buf) + 1)
                if buf.startswith(b"\r\n"):
                    buf = buf[2:]
                else:
                    tail, buf = buf.split(b"\r\n\r\n", 1)
                    trailers = [tuple(p.strip() for p in l.split(":", 1)) for l in tail.decode("latin-1").split("\r\n")]
                break
            need(size + 2)
            body, buf = body + buf[:size], buf[size + 2:]
    else:
        length = int(names.get("content-length", "0") or 0)
        need(length)
        body, buf = buf[:length], buf[length:]
    return lines[0], headers, body, trailers, buf


class RawBackend:
    """An HTTP/1.1 backend on a raw socket. `script[path]` (exact path without query,
    or a callable) returns the raw bytes to write, or a list of bytes / float (sleep) /
    None (close now). Unknown paths get a JSON echo of the request. Every connection is
    closed after one response. `requests` records method, path, the header list exactly
    as received (duplicates kept), body and trailers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.script = {}
        self.requests = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(15)
            msg = _read_http_message(conn)
            if msg is None:
                return
            request_line, headers, body, trailers, _ = msg
            method, target, _ = request_line.split(" ", 2)
            record = {"method": method, "path": target, "headers": headers, "body": body, "trailers": trailers}
            with self._lock:
                self.requests.append(record)
            answer = self.script.get(target.split("?", 1)[0])
            if answer is None:
                payload = json.dumps({"path": target, "headers": headers}).encode()
                answer = http_response(200, {"content-type": "application/json"}, payload)
            if callable(answer):
                answer = answer(record)
            for piece in answer if isinstance(answer, list) else [answer]:
                if piece is None:
                    break
                if isinstance(piece, float):
                    time.sleep(piece)
                    continue
                conn.sendall(piece)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def seen(self, prefix):
        with self._lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def stop(self):
        self._stop = True
        self.sock.close()


def http_response(status, headers, body=b"", reason="X"):
    """Raw HTTP/1.1 response bytes; `headers` is a dict or a list of pairs (duplicates
    allowed); content-length is added unless a length or transfer-encoding is given."""
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    names = {k.lower() for k, _ in pairs}
    if "content-length" not in names and "transfer-encoding" not in names:
        pairs.append(("content-length", str(len(body))))
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in pairs) + "connection: close\r\n\r\n"
    return head.encode("latin-1") + body


def chunked(body, size=7, trailers=None):
    """`body` as HTTP/1.1 chunks of `size` bytes, then the last chunk (with trailers)."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size))
    tail = "".join(f"{k}: {v}\r\n" for k, v in (trailers or {}).items())
    return out + b"0\r\n" + tail.encode() + b"\r\n"


# --- raw clients --------------------------------------------------------------------------

def raw_http(port, data, timeout=15):
    """Sends raw bytes to the gateway, reads until the connection closes (or goes quiet)
    and returns (status or None, header dict, body bytes, everything received)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
                if _complete(received):
                    break
        except (socket.timeout, ConnectionResetError):
            pass
    if not received.startswith(b"HTTP/"):
        return None, {}, b"", received
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        body = _dechunk(body)
    return status, headers, body, received


def _complete(received):
    if b"\r\n\r\n" not in received:
        return False
    head, _, body = received.partition(b"\r\n\r\n")
    h = head.lower()
    for line in h.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    if b"transfer-encoding: chunked" in h:
        return body.endswith(b"0\r\n\r\n")
    return False


def _dechunk(body):
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2:]
    return out


def request_bytes(path, host="acme.localhost", token=None, method="GET", headers=(), body=b"", version="HTTP/1.1",
                  extra_host_lines=()):
    """A raw HTTP/1.1 request (one `Host` line unless `host` is None)."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"Host: {h}" for h in extra_host_lines]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body
