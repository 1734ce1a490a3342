#!/usr/bin/env python3
"""qemubox-fsd: volumes joining and leaving a running share (a pod's later
containers). Drives the real qemubox-fsd and Debian's virtiofsd over fsd's
imsg socket, as the shim does, and looks at what virtiofsd serves through
/proc/<virtiofsd>/root (its pivoted root is the share): a volume added
after virtiofsd started appears there, read-only when asked, and goes when
removed; requests the shim could have known were wrong end fsd; a share
that is gone is answered. Prints TAP."""
import array
import errno as E
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FSD = os.path.join(TOP, os.environ.get("BUILD", "build"), "libexec", "qemubox-fsd")
HDR = os.path.join(TOP, "imsg", "qemubox_imsg.h")

hdr = open(HDR).read()
ID_MAX = int(re.search(r"#define QB_ID_MAX\s*\\?\s*(\d+)", hdr).group(1))
PATH_MAX = int(re.search(r"#define QB_FS_PATH_MAX\s+(\d+)", hdr).group(1))
MAX_VOL = int(re.search(r"#define QB_FS_MAX_VOLUMES\s+(\d+)", hdr).group(1))
FILE_NAME = re.search(r'#define QB_FS_FILE_NAME\s+"([^"]+)"', hdr).group(1)


def typ(name):
    return int(re.search(r"\b" + name + r"\s*=\s*(\d+)", hdr).group(1))


VOLUME_REQ, START_REQ, START_RES = typ("IMSG_FS_VOLUME_REQ"), typ("IMSG_FS_START_REQ"), typ("IMSG_FS_START_RES")
ADD_REQ, ADD_RES, DEL_REQ, DEL_RES = typ("IMSG_FS_ADD_REQ"), typ("IMSG_FS_ADD_RES"), typ("IMSG_FS_DEL_REQ"), typ("IMSG_FS_DEL_RES")
ERROR = typ("IMSG_ERROR")


def al4(n):
    return (n + 3) & ~3


def idfield(s):
    return s.encode().ljust(ID_MAX, b"\0")


def volume(index, ro, src):
    return struct.pack("=II", index, ro) + src.encode().ljust(PATH_MAX, b"\0")


def start_req(sid, n, spare):
    return idfield(sid).ljust(al4(ID_MAX), b"\0") + struct.pack("=II", n, spare)


def add_req(sid, index, ro, src):
    return idfield(sid).ljust(al4(ID_MAX), b"\0") + volume(index, ro, src)


def slot(sid, index):
    return idfield(sid).ljust(al4(ID_MAX), b"\0") + struct.pack("=I", index)


class Fsd:
    def __init__(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = a
        os.set_inheritable(b.fileno(), True)
        fd = b.fileno()
        # subprocess closes what pass_fds does not name after preexec_fn:
        # fd 3 (the dup) is named too.
        self.proc = subprocess.Popen(
            [FSD], pass_fds=(fd, 3),
            preexec_fn=lambda: (os.dup2(fd, 3), None)[1] if fd != 3 else None,
            stderr=subprocess.PIPE)
        b.close()
        self.peer = 1

    def send(self, t, payload):
        self.peer += 1
        h = struct.pack("=IHHII", t, 16 + len(payload), 0, self.peer, os.getpid())
        self.sock.sendall(h + payload)

    def recv(self, timeout=20):
        self.sock.settimeout(timeout)
        fds = array.array("i")
        msg, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(4))
        for lvl, t, data in anc:
            if lvl == socket.SOL_SOCKET and t == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % 4])
        if not msg:
            return None, b"", None
        t, ln = struct.unpack("=IH", msg[:6])
        return t, msg[16:ln], (fds[0] if fds else None)

    def error_text(self, payload):
        return payload[12:].split(b"\0")[0].decode(errors="replace")

    def gone(self, timeout=5):
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def close(self):
        self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def served_root(pid, timeout=10):
    """The root of the virtiofsd process that serves (the sandboxed child
    of the one fsd started, or that one itself)."""
    end = time.time() + timeout
    while time.time() < end:
        kids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                st = open("/proc/%s/stat" % p).read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(p))
        for k in kids:
            r = "/proc/%d/root" % k
            try:
                if os.path.realpath(r) == "/" and os.path.isdir(r + "/0"):
                    return r
            except OSError:
                pass
        time.sleep(0.2)
    return None


n = 0
failed = 0


def ok(cond, name, diag=""):
    global n, failed
    n += 1
    if cond:
        print("ok %d - %s" % (n, name))
    else:
        failed += 1
        print("not ok %d - %s" % (n, name))
        if diag:
            for line in diag.splitlines():
                print("#   " + line)
    sys.stdout.flush()


if os.geteuid() != 0:
    print("1..0 # SKIP needs root")
    sys.exit(0)

work = tempfile.mkdtemp(prefix="qb-fsdshare.")
src = os.path.join(work, "empty-dir")
os.mkdir(src)
open(os.path.join(src, "hello"), "w").write("from the host\n")
ro = os.path.join(work, "ro-dir")
os.mkdir(ro)
open(os.path.join(ro, "cfg"), "w").write("ro\n")
afile = os.path.join(work, "a-file")
open(afile, "w").write("x")

# 1: a share with no volume and spare slots, then one joins.
f = Fsd()
f.send(START_REQ, start_req("pod-a", 0, 1))
t, p, qfd = f.recv()
pid = struct.unpack("=i", p[:4])[0] if t == START_RES else -1
root = served_root(pid) if pid > 0 else None
ok(t == START_RES and qfd is not None and root is not None and os.listdir(root + "/0") == [],
   "a share with no volume starts with empty spare slots",
   "answer %s, root %s" % (t, root))
# qfd is QEMU's end of the vhost-user socket: virtiofsd ends when it
# closes, so it stays open while the share is used.

def status(p):
    st = {}
    for line in open("/proc/%d/status" % p):
        k, _, v = line.partition(":")
        st[k] = v.strip()
    return st


keepers = [int(k) for k in os.popen("ps -o pid=,comm= --ppid %d" % pid).read().split()[::2]
           if int(k) != int(root.split("/")[2])] if root else []
fst = status(f.proc.pid)
kst = status(keepers[0]) if len(keepers) == 1 else {}
ok(len(keepers) == 1 and kst.get("Uid", "").split()[0] == "0" and
   all(kst.get(c) == fst.get(c) for c in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")) and
   kst.get("NoNewPrivs") == "1" and kst.get("Seccomp") == "2" and
   os.readlink("/proc/%d/ns/mnt" % keepers[0]) != os.readlink("/proc/self/ns/mnt"),
   "the share's keeper: uid 0, exactly fsd's capabilities, NoNewPrivs, seccomp, not the host's mount namespace",
   "keepers %s: %s" % (keepers, {k: kst.get(k) for k in ("Uid", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp")}))

f.send(ADD_REQ, add_req("pod-a", 0, 0, src))
t, p, _ = f.recv()
seen = root and os.path.exists(root + "/0/hello") and open(root + "/0/hello").read()
ok(t == ADD_RES and seen == "from the host\n",
   "a rw directory joins the running share; virtiofsd serves it",
   "answer %s %s, served: %r" % (t, f.error_text(p) if t == ERROR else "", seen))

# writes through the served view reach the host (rw)
try:
    open(root + "/0/written", "w").write("from the share\n")
    wr = open(os.path.join(src, "written")).read()
except OSError as e:
    wr = str(e)
ok(wr == "from the share\n", "the joined rw volume is writable, the host sees the write", wr)

f.send(ADD_REQ, add_req("pod-a", 1, 1, ro))
t, p, _ = f.recv()
try:
    open(root + "/1/new", "w").write("no")
    rw = "write succeeded"
except OSError as e:
    rw = e.errno
ok(t == ADD_RES and rw == E.EROFS and open(root + "/1/cfg").read() == "ro\n",
   "a ro directory joins read-only at the host side (EROFS)", "answer %s, write: %s" % (t, rw))

mi = open("/proc/%s/mountinfo" % root.split("/")[2]).read()
line = [l for l in mi.splitlines() if l.split()[4] == "/0"]
ok(line and "nosuid" in line[0] and "nodev" in line[0], "joined volumes are nosuid,nodev", "\n".join(line))

f.send(ADD_REQ, add_req("pod-a", 2, 0, afile))
t, p, _ = f.recv()
served = root + "/2/" + FILE_NAME
try:
    before = open(served).read()
    open(served, "a").write("y")
    open(afile, "a").write("z")
    after = open(served).read()
    names = os.listdir(root + "/2")
except OSError as e:
    before = after = str(e)
    names = []
ok(t == ADD_RES and before == "x" and open(afile).read() == "xyz" and after == "xyz" and names == [FILE_NAME],
   "a file joins at <slot>/%s, live both ways (termination-log, /etc/hosts)" % FILE_NAME,
   "answer %s %s, served %r then %r, slot holds %s" % (t, f.error_text(p) if t == ERROR else "", before, after, names))
try:
    open(root + "/2/other", "w")
    extra = "created a file next to it"
except OSError as e:
    extra = e.errno
ok(extra == E.EROFS, "nothing can be created next to a joined file", str(extra))

rofile = os.path.join(work, "ro-file")
open(rofile, "w").write("keep")
f.send(ADD_REQ, add_req("pod-a", 3, 1, rofile))
t, p, _ = f.recv()
try:
    open(root + "/3/" + FILE_NAME, "w").write("no")
    rw = "write succeeded"
except OSError as e:
    rw = e.errno
ok(t == ADD_RES and rw == E.EROFS and open(rofile).read() == "keep",
   "a ro file joins read-only", "answer %s, write: %s" % (t, rw))

fifo = os.path.join(work, "a-fifo")
os.mkfifo(fifo)
f.send(ADD_REQ, add_req("pod-a", 4, 0, fifo))
t, p, _ = f.recv()
ok(t == ERROR and "neither a directory nor a regular file" in f.error_text(p) and not f.gone(0.5),
   "a fifo cannot join (answered, fsd goes on)", f.error_text(p) if t == ERROR else str(t))

f.send(DEL_REQ, slot("pod-a", 2))
t, p, _ = f.recv()
ok(t == DEL_RES and os.listdir(root + "/2") == [] and open(afile).read() == "xyz",
   "a file leaves its slot empty; the host file stays", str(t))

f.send(ADD_REQ, add_req("pod-zz", 2, 0, src))
t, p, _ = f.recv()
ok(t == ERROR and "no running share" in f.error_text(p), "an unknown sandbox is answered",
   f.error_text(p) if t == ERROR else str(t))

f.send(DEL_REQ, slot("pod-a", 0))
t, p, _ = f.recv()
ok(t == DEL_RES and os.listdir(root + "/0") == [] and os.path.exists(os.path.join(src, "hello")),
   "a volume leaves the share; the host directory keeps its files",
   "answer %s, served now: %s" % (t, os.listdir(root + "/0") if root else None))

f.send(ADD_REQ, add_req("pod-a", 0, 0, src))
t, p, _ = f.recv()
ok(t == ADD_RES and os.path.exists(root + "/0/hello"), "the freed slot takes a volume again", str(t))

# violations: a used slot, a slot below the spare ones
f.send(ADD_REQ, add_req("pod-a", 0, 0, src))
ok(f.gone(), "a used slot ends fsd (protocol violation) and its virtiofsd with it",
   f.proc.stderr.read().decode(errors="replace") if f.proc.poll() is not None else "fsd still runs")
time.sleep(0.5)
ok(all(not os.path.exists("/proc/%d" % p) or open("/proc/%d/stat" % p).read().split()[2] == "Z"
       for p in [pid] + keepers),
   "virtiofsd and the keeper ended with fsd")
f.close()
if qfd is not None:
    os.close(qfd)

g = Fsd()
g.send(VOLUME_REQ, volume(0, 0, src))
g.send(START_REQ, start_req("pod-b", 1, 1))
t, p, qfd = g.recv()
if qfd is not None:
    os.close(qfd)
g.send(ADD_REQ, add_req("pod-b", 0, 0, ro))
ok(t == START_RES and g.gone(), "a slot of the start's own volumes is not a spare one (fsd ends)")
g.close()

h = Fsd()
h.send(START_REQ, start_req("pod-c", 0, 0))
ok(h.gone(), "no volume and no spare slots: refused as a violation")
h.close()

subprocess.run(["rm", "-rf", work])
print("1..%d" % n)
sys.exit(1 if failed else 0)
