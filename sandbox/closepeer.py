"""Server sides of close sequences that Node cannot play (test/sandbox/datapath.priv.test.ts).

Node can neither shut a socket down for reading nor leave bytes unread in the kernel (it reads a
socket as soon as it accepts it), so these sides are Python. `python3 closepeer.py MODE PORT`
accepts one connection and reports like traffic.mjs's close modes (one JSON line):
- shut-rd: shuts down reading, says so with 16 bytes, then reads whatever still arrives;
- close-unread: never reads, and closes with what it was sent still queued.
"""
import hashlib
import json
import socket
import sys
import time

mode, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
srv.close()
sent, received = hashlib.sha256(), hashlib.sha256()
nsent, total, end = 0, 0, None

if mode == "shut-rd":
    marker = b"shut-rd-done\n\n\n\n"
    conn.shutdown(socket.SHUT_RD)
    conn.sendall(marker)
    sent.update(marker)
    nsent = len(marker)
    # The client writes once it sees the marker; let all of it land before reading.
    time.sleep(0.5)
    while end is None:
        try:
            chunk = conn.recv(65536)
        except OSError as e:
            end = e.strerror
            break
        if not chunk:
            end = "eof"
            break
        received.update(chunk)
        total += len(chunk)
elif mode == "close-unread":
    time.sleep(0.4)
    end = "closed"
else:
    raise SystemExit(f"unknown mode {mode}")

conn.close()
print(json.dumps({"sent": nsent, "received": total, "end": end,
                  "sentDigest": sent.hexdigest(), "receivedDigest": received.hexdigest()}), flush=True)
