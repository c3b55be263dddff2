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

from rawsend import ipv4_udp

node, port, vni, src, dst, dport, payload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7].encode()
eth = bytes.fromhex("020000000001") + bytes.fromhex("020000000002") + struct.pack("!H", 0x0800)
# VXLAN header (RFC 7348): flags with the I bit, 24 reserved bits, the VNI, 8 reserved bits.
vxlan = struct.pack("!B3xI", 0x08, vni << 8)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = s.sendto(vxlan + eth + ipv4_udp(src, dst, 40000, dport, payload, ip_id=0x4321), (node, port))
print(json.dumps({"sent": n}), flush=True)
