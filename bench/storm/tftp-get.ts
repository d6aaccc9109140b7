/**
 * A TFTP read as a PXE ROM does it (RFC 1350, options RFC 2347/2348/2349: blksize and tsize in the RRQ, ACK 0 for
 * the OACK, lock-step ACKs), from a UDP socket bound to the terminal's leased address. Retransmits its last
 * packet after 1 s, five times at most. For the storm bench only.
 */
import { createSocket } from 'node:dgram';

export function tftpGet(server: string, file: string, localAddress: string, blksize = 1468): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const parts: Buffer[] = [];
    let expect = 1;
    let size = 512;
    let peerPort = 0;
    let last: Buffer = Buffer.alloc(0);
    let lastPort = 69;
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (err?: Error): void => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(Buffer.concat(parts));
    };
    const send = (b: Buffer, port: number): void => {
      last = b;
      lastPort = port;
      tries = 0;
      sock.send(b, port, server);
      arm();
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (++tries > 5) return done(new Error(`tftp ${file}: no answer after 5 retransmissions (block ${expect})`));
        sock.send(last, lastPort, server);
        arm();
      }, 1000);
    };
    const ack = (block: number): Buffer => Buffer.from([0, 4, block >> 8, block & 0xff]);
    sock.on('message', (m, rinfo) => {
      if (rinfo.address !== server || m.length < 4) return;
      if (peerPort === 0) peerPort = rinfo.port;
      else if (rinfo.port !== peerPort) return; // another TID (RFC 1350 §4): not ours
      const op = m.readUInt16BE(0);
      if (op === 6) {
        // OACK: the options the server accepted
        const f = m.subarray(2).toString('latin1').split('\0');
        for (let i = 0; i + 1 < f.length; i += 2) if (f[i]!.toLowerCase() === 'blksize') size = Number(f[i + 1]);
        send(ack(0), peerPort);
      } else if (op === 3) {
        const block = m.readUInt16BE(2);
        if (block === (expect & 0xffff)) {
          parts.push(Buffer.from(m.subarray(4)));
          expect++;
          const a = ack(block);
          if (m.length - 4 < size) {
            // the last ACK: close only once it is sent (a close right after send() can drop it, and the server
            // then holds the transfer until its retransmissions give up)
            clearTimeout(timer);
            sock.send(a, peerPort, server, () => done());
            return;
          }
          send(a, peerPort);
        } else sock.send(ack(block), peerPort, server); // a duplicate: ACK it again (no sorcerer's apprentice: no resend of data)
      } else if (op === 5) done(new Error(`tftp ${file}: error ${m.readUInt16BE(2)} ${m.subarray(4).toString('latin1').replace(/\0.*$/, '')}`));
    });
    sock.on('error', (e) => done(e));
    sock.bind({ address: localAddress, port: 0 }, () => {
      send(Buffer.from(`\0\x01${file}\0octet\0blksize\0${blksize}\0tsize\0${0}\0`, 'latin1'), 69);
    });
  });
}
