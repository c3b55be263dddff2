"""Sends one VXLAN datagram by hand, as anyone on the underlay could:
`python3 vxlansend.py NODE PORT VNI INNER_SRC INNER_DST INNER_DPORT PAYLOAD`. The outer packet is
an ordinary UDP datagram from this namespace's address; inside, an Ethernet frame carrying an
IPv4/UDP datagram from INNER_SRC. Prints {"sent": bytes}. Used to check that a node accepts
tunnelled traffic only from other nodes, and judges it by the identity in the VNI.
"""
import json
import socket
import struct
import sys

node, port, vni, src, dst, dport, payload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7].encode()


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


udp_len = 8 + len(payload)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
udp = struct.pack("!HHHH", 40000, dport, udp_len, 0) + payload
udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0x4321, 0x4000, 64, socket.IPPROTO_UDP, 0, socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
eth = bytes.fromhex("020000000001") + bytes.fromhex("020000000002") + struct.pack("!H", 0x0800)
# VXLAN header (RFC 7348): flags with the I bit, 24 reserved bits, the VNI, 8 reserved bits.
vxlan = struct.pack("!B3xI", 0x08, vni << 8)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = s.sendto(vxlan + eth + ip + udp, (node, port))
print(json.dumps({"sent": n}), flush=True)
