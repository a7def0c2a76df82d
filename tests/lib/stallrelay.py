"""A TCP relay between a server under test and the private slapd that holds
back, on its connection only, every request naming a pattern until the
test releases it: a directory slow for one name, for real (no mock)."""
import socket
import threading

STALL = b'stallme'


class StallRelay:
    """Relays loopback TCP to slapd; a client->server chunk holding STALL
    waits until release() (or 60 s) before it is passed on."""

    def __init__(self, target_port):
        self.target = target_port
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(('127.0.0.1', 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.pattern = STALL
        self.gate = threading.Event()
        self.holding = threading.Event()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self):
        self.gate.set()

    def rearm(self):
        self.gate.clear()
        self.holding.clear()

    def stop(self):
        self.stopped = True
        self.gate.set()
        self.ls.close()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(('127.0.0.1', self.target), timeout=10)
            except OSError:
                c.close()
                continue
            s.settimeout(None)
            threading.Thread(target=self._pipe, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, False), daemon=True).start()

    def _pipe(self, src, dst, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream and self.pattern in data and not self.gate.is_set():
                    self.holding.set()
                    self.gate.wait(60)
                dst.sendall(data)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
