"""Sends one UDP datagram with a source address of the caller's choosing, through a raw socket
(what a pod with CAP_NET_RAW can do): `python3 rawsend.py SRC DST DPORT PAYLOAD`. Prints
{"sent": bytes}. Used to check that an endpoint may send only from its own address; its packet
builder also serves vxlansend.py.
"""
import json
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes, ip_id: int = 0x1234) -> bytes:
    """An IPv4 header (DF, TTL 64) and a UDP datagram, both checksums filled in."""
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ip_id, 0x4000, 64, socket.IPPROTO_UDP, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:] + udp


if __name__ == "__main__":
    src, dst, dport, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    n = s.sendto(ipv4_udp(src, dst, 40000, dport, payload), (dst, 0))
    print(json.dumps({"sent": n}), flush=True)
