#!/usr/bin/env python3
"""A raw-UDP TFTP client for packet-level checks (PROTOCOLS.md §7 checks 16-24) that real clients cannot show.

Usage: tftp_probe.py SERVER SCENARIO FILE [ARGS...]   -- prints one JSON object on stdout.
Every scenario uses its own sockets; timeouts are short and explicit.
"""
import hashlib, json, socket, struct, sys, time

SERVER, SCENARIO, FILE = sys.argv[1], sys.argv[2], sys.argv[3]
ARGS = sys.argv[4:]
PORT = 69


def rrq(name, opts=(), op=1, mode=b'octet'):
    b = struct.pack('!H', op) + name.encode('latin1') + b'\0' + mode + b'\0'
    for k, v in opts:
        b += k.encode() + b'\0' + v.encode() + b'\0'
    return b


def parse(pkt):
    op = struct.unpack('!H', pkt[:2])[0]
    if op == 3:
        return {'op': 'DATA', 'block': struct.unpack('!H', pkt[2:4])[0], 'data': pkt[4:]}
    if op == 5:
        return {'op': 'ERROR', 'code': struct.unpack('!H', pkt[2:4])[0], 'msg': pkt[4:].split(b'\0')[0].decode('latin1')}
    if op == 6:
        parts = pkt[2:].split(b'\0')[:-1]
        return {'op': 'OACK', 'options': {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2)}}
    if op == 4:
        return {'op': 'ACK', 'block': struct.unpack('!H', pkt[2:4])[0]}
    return {'op': op}


def sock(timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 0))
    s.settimeout(timeout)
    return s


def recv(s, timeout=None):
    if timeout is not None:
        s.settimeout(timeout)
    try:
        pkt, addr = s.recvfrom(70000)
        return parse(pkt), addr
    except socket.timeout:
        return None, None


def ack(s, addr, n):
    s.sendto(struct.pack('!HH', 4, n & 0xffff), addr)


def drain(s, timeout):
    """Everything that arrives until `timeout` seconds of silence."""
    out = []
    while True:
        p, a = recv(s, timeout)
        if p is None:
            return out
        out.append((p, a))


def download(s, first, addr, blksize=512, window=1, record_wrap=False):
    """Finishes a download whose first DATA (or OACK already ACKed) is `first`. Returns (bytes, info)."""
    data = bytearray()
    expect = 1
    wraps = []
    p = first
    since_ack = 0
    acks = []
    while True:
        if p is None:
            # our ACK or their DATA got lost: re-ACK what we have (the server resends on its timer only)
            ack(s, addr, expect - 1)
            p, a = recv(s, 3.0)
            if p is None:
                return data, {'error': 'timeout', 'expect': expect, 'wraps': wraps}
            continue
        if p['op'] == 'ERROR':
            return data, {'error': 'server_error', 'code': p['code']}
        if p['op'] == 'DATA':
            if p['block'] == (expect & 0xffff):
                data += p['data']
                if record_wrap and 65534 <= expect <= 65538:
                    wraps.append(p['block'])
                since_ack += 1
                last = len(p['data']) < blksize
                if last or since_ack == window:
                    ack(s, addr, expect)
                    acks.append(since_ack)
                    since_ack = 0
                expect += 1
                if last:
                    return data, {'blocks': expect - 1, 'wraps': wraps, 'per_ack': acks[:8]}
        p, a = recv(s, 2.0)


def sha(b):
    return hashlib.sha256(b).hexdigest()


out = {}
if SCENARIO == 'get':
    # get FILE [k=v ...]: options as given; reports the first reply and the downloaded sha256
    opts = [tuple(a.split('=', 1)) for a in ARGS]
    s = sock()
    s.sendto(rrq(FILE, opts), (SERVER, PORT))
    p, addr = recv(s, 3.0)
    out['first'] = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in p.items() if k != 'data'} if p else None
    if p and p['op'] == 'DATA':
        out['first']['len'] = len(p['data'])
    out['port'] = addr[1] if addr else None
    if p and p['op'] != 'ERROR':
        blksize, window = 512, 1
        if p['op'] == 'OACK':
            blksize = int(p['options'].get('blksize', 512))
            window = int(p['options'].get('windowsize', 1))
            ack(s, addr, 0)
            p, _ = recv(s, 3.0)
            out['after_oack_len'] = len(p['data']) if p and p['op'] == 'DATA' else None
        data, info = download(s, p, addr, blksize, window, record_wrap=True)
        out.update(info)
        out['sha256'] = sha(data)
        out['size'] = len(data)
elif SCENARIO == 'probe':
    # EDK2 size probe (T6): RRQ tsize=0 blksize=1468 → OACK → ERROR 8 → silence; then the real RRQ works
    s = sock()
    s.sendto(rrq(FILE, [('tsize', '0'), ('blksize', '1468')]), (SERVER, PORT))
    p, addr = recv(s, 3.0)
    out['oack'] = p.get('options') if p else None
    s.sendto(struct.pack('!HH', 5, 8) + b'tsize probe\0', addr)
    out['after_error'] = [x[0]['op'] for x in drain(s, 2.5)]
    s2 = sock()
    s2.sendto(rrq(FILE, [('blksize', '1468')]), (SERVER, PORT))
    p, addr = recv(s2, 3.0)
    out['second'] = p.get('options') if p else None
    ack(s2, addr, 0)
    p, _ = recv(s2, 3.0)
    data, info = download(s2, p, addr, 1468)
    out['sha256'] = sha(data)
elif SCENARIO == 'dupack':
    # T2: a duplicate ACK gets nothing; only the timer resends; silence → timed resends, then the server gives up
    s = sock()
    s.sendto(rrq(FILE), (SERVER, PORT))
    p1, addr = recv(s, 3.0)
    ack(s, addr, 1)
    p2, _ = recv(s, 3.0)
    out['second_block'] = p2['block'] if p2 else None
    t0 = time.time()
    for _ in range(3):
        ack(s, addr, 1)  # duplicates: block 1 is already acknowledged
    early, _ = recv(s, float(ARGS[0]) * 0.6)  # well inside the server's retransmission timeout
    out['after_dup_acks'] = early['op'] + ':' + str(early.get('block')) if early else None
    resends = []
    for p, a in drain(s, float(ARGS[0]) * 4):
        resends.append('%s:%s@%.1f' % (p['op'], p.get('block'), time.time() - t0))
    out['resends'] = resends
elif SCENARIO == 'window':
    # RFC 7440: windowsize N → N blocks per ACK; a partial ACK (a gap) → resend from the block after it
    n = int(ARGS[0])
    s = sock()
    s.sendto(rrq(FILE, [('windowsize', str(n))]), (SERVER, PORT))
    p, addr = recv(s, 3.0)
    out['oack'] = p.get('options') if p else None
    ack(s, addr, 0)
    out['window1'] = [x[0].get('block') for x in drain(s, 0.15)]
    ack(s, addr, 2)  # pretend block 3 was lost
    out['after_partial_ack'] = [x[0].get('block') for x in drain(s, 0.15)]
    s.sendto(struct.pack('!HH', 5, 0) + b'done\0', addr)
    # a clean windowed download for the hash and the blocks-per-ACK count
    s2 = sock()
    s2.sendto(rrq(FILE, [('windowsize', str(n))]), (SERVER, PORT))
    p, addr = recv(s2, 3.0)
    ack(s2, addr, 0)
    p, _ = recv(s2, 3.0)
    whole, info = download(s2, p, addr, 512, n)
    out['per_ack'] = info.get('per_ack')
    out['sha256'] = sha(whole)
elif SCENARIO == 'foreign':
    # RFC 1350 §4: a packet from a foreign TID gets ERROR 5; the transfer itself goes on
    s = sock()
    s.sendto(rrq(FILE), (SERVER, PORT))
    p, addr = recv(s, 3.0)
    stranger = sock()
    stranger.sendto(struct.pack('!HH', 4, 1), addr)
    e, _ = recv(stranger, 3.0)
    out['stranger_got'] = e
    data, info = download(s, p, addr)
    out.update(info)
    out['sha256'] = sha(data)
elif SCENARIO in ('rrq', 'wrq', 'mode'):
    # one request, the first reply (an ERROR is expected)
    s = sock()
    name = FILE.encode('latin1').decode('unicode_escape')
    op = 2 if SCENARIO == 'wrq' else 1
    s.sendto(rrq(name, op=op, mode=(ARGS[0].encode() if SCENARIO == 'mode' else b'octet')), (SERVER, PORT))
    p, addr = recv(s, 3.0)
    out['reply'] = {k: v for k, v in p.items() if k != 'data'} if p else None
    if p and p['op'] == 'DATA':
        s.sendto(struct.pack('!HH', 5, 0) + b'enough\0', addr)
print(json.dumps(out))
