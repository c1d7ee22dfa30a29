"""A Wayland connection proxy for tests: makes a compositor's client get xdg_toplevel.close.

Headless Weston has no input devices, so nothing makes it send xdg_toplevel.close. The proxy sits
on a socket of its own between the client and the compositor, forwards every message and every fd
(SCM_RIGHTS) both ways unchanged, learns the object id the client gives its toplevel, and, when
asked, adds an xdg_toplevel.close event to what the compositor sends the client.

Wire format (libwayland connection.c, wayland.xml, xdg-shell.xml): a message is a header of two
32-bit words in host byte order, the object id and (size << 16 | opcode), size counting the
header, then its arguments in 32-bit words; a string is its length (with the NUL) and its bytes
padded to 4; an untyped new_id (wl_registry.bind) is the interface string, the version and the
id; fds travel beside the bytes, in order. Object ids that a client creates come from the client,
in its requests:
    wl_display (id 1) request 1 get_registry(new_id wl_registry)
    wl_registry       request 0 bind(uint name, new_id: string interface, uint version, uint id)
    xdg_wm_base       request 2 get_xdg_surface(new_id xdg_surface, object wl_surface)
    xdg_surface       request 1 get_toplevel(new_id xdg_toplevel)
    xdg_toplevel      event 1 close (no arguments)
"""
import socket
import struct
import threading
import time

HEADER = struct.Struct('=II')
WORD = struct.Struct('=I')
MAX_FDS = 64  # libwayland sends at most 28 with one sendmsg
DISPLAY_ID = 1
GET_REGISTRY, BIND, GET_XDG_SURFACE, GET_TOPLEVEL, TOPLEVEL_CLOSE = 1, 0, 2, 1, 1


def await_value(cond, get, timeout, what):
    """get() under cond once it is not empty, waiting up to timeout s; AssertionError(what) else."""
    end = time.monotonic() + timeout
    with cond:
        while not get():
            if time.monotonic() > end:
                raise AssertionError(f'proxy: {what} within {timeout} s')
            cond.wait(0.2)
        return get()


def split_messages(buf):
    """The length of the complete messages at the start of buf, and their (object, opcode, body)."""
    done, messages = 0, []
    while len(buf) - done >= HEADER.size:
        obj, word = HEADER.unpack_from(buf, done)
        size = word >> 16
        if size < HEADER.size or len(buf) - done < size:
            break
        messages.append((obj, word & 0xffff, bytes(buf[done + HEADER.size:done + size])))
        done += size
    return done, messages


class Connection:
    """One client's connection, forwarded to the compositor's socket."""

    def __init__(self, client, compositor_path):
        self.client = client
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.connect(compositor_path)
        self.lock = threading.Lock()  # writes to the client: whole messages only
        self.cond = threading.Condition()
        self.registries, self.wm_bases, self.xdg_surfaces, self.toplevels = set(), set(), set(), []
        self.threads = [threading.Thread(target=self._requests, daemon=True),
                        threading.Thread(target=self._events, daemon=True)]
        for t in self.threads:
            t.start()

    def _track(self, obj, opcode, body):
        """Learns the ids of the objects leading to the toplevel from one request."""
        if obj == DISPLAY_ID and opcode == GET_REGISTRY:
            self.registries.add(WORD.unpack_from(body, 0)[0])
        elif obj in self.registries and opcode == BIND:
            length = WORD.unpack_from(body, 4)[0]
            interface = body[8:8 + length - 1].decode()
            new_id = WORD.unpack_from(body, 8 + (length + 3) // 4 * 4 + 4)[0]
            if interface == 'xdg_wm_base':
                self.wm_bases.add(new_id)
        elif obj in self.wm_bases and opcode == GET_XDG_SURFACE:
            self.xdg_surfaces.add(WORD.unpack_from(body, 0)[0])
        elif obj in self.xdg_surfaces and opcode == GET_TOPLEVEL:
            with self.cond:
                self.toplevels.append(WORD.unpack_from(body, 0)[0])
                self.cond.notify_all()

    @staticmethod
    def _send(sock, data, fds):
        """Sends data with fds on its first byte, all of it."""
        sent = socket.send_fds(sock, [data], fds) if fds else 0
        sock.sendall(data[sent:])

    def _pump(self, src, dst, on_chunk):
        """Moves bytes and fds from src to dst until src ends; on_chunk(buffer, fds) sends."""
        buf, fds = bytearray(), []
        try:
            while True:
                data, new_fds, _, _ = socket.recv_fds(src, 65536, MAX_FDS)
                if not data and not new_fds:
                    break
                buf += data
                fds += new_fds
                fds = on_chunk(buf, fds)
        except OSError:
            pass  # either side went away
        finally:
            for fd in fds:
                socket.close(fd)
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _requests(self):
        parse = bytearray()  # requests may be cut anywhere: what is not a whole message yet

        def forward(buf, fds):
            parse.extend(buf)
            done, messages = split_messages(parse)
            for m in messages:
                self._track(*m)
            del parse[:done]
            self._send(self.server, bytes(buf), fds)  # as they came: only events need boundaries
            for fd in fds:
                socket.close(fd)
            del buf[:]
            return []
        self._pump(self.client, self.server, forward)

    def _events(self):
        def forward(buf, fds):
            done, _ = split_messages(buf)
            if done == 0:
                return fds  # the fds go with the first whole message
            with self.lock:
                self._send(self.client, bytes(buf[:done]), fds)
            for fd in fds:
                socket.close(fd)
            del buf[:done]
            return []
        self._pump(self.server, self.client, forward)

    def close_toplevel(self, timeout):
        """Sends the client xdg_toplevel.close for its toplevel; returns the toplevel's id."""
        toplevel = await_value(self.cond, lambda: self.toplevels, timeout, 'the client made no xdg_toplevel')[-1]
        with self.lock:
            self.client.sendall(HEADER.pack(toplevel, HEADER.size << 16 | TOPLEVEL_CLOSE))
        return toplevel

    def close(self):
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(5)
        self.client.close()
        self.server.close()


class WaylandProxy:
    """Listens at runtime_dir/name and forwards each client to runtime_dir/compositor."""

    def __init__(self, runtime_dir, compositor, name):
        self.path = f'{runtime_dir}/{name}'
        self.compositor = f'{runtime_dir}/{compositor}'
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.cond = threading.Condition()
        self.connections = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self.cond:
                self.connections.append(Connection(client, self.compositor))
                self.cond.notify_all()

    def connection(self, timeout):
        """The first client's connection, once it connected."""
        return await_value(self.cond, lambda: self.connections, timeout, 'no client connected')[0]

    def close(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self.listener.close()
        self.thread.join(5)
        with self.cond:
            for c in self.connections:
                c.close()
