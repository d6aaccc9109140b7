import { createRequire } from 'node:module';
import { BootgateError } from '../errors.ts';
import type { DatagramSocket, SocketFactory } from './datagram.ts';

interface NativeSocket {
  port: number;
  /** set when opened with linkSource: whether the AF_PACKET tap could be opened */
  linkSource?: boolean;
}
interface NativeAddon {
  open(
    ifname: string,
    port: number,
    cb: (buf: Buffer, addr: string, port: number, ifindex: number, dst: string, linkSource: string) => void,
    linkSource?: 0 | 1 | 2,
  ): NativeSocket;
  linkStats(s: NativeSocket): { refused: number; sources: string[] };
  send(s: NativeSocket, buf: Buffer, addr: string, port: number): number;
  setArp(s: NativeSocket, ip: string, mac: Buffer): number;
  close(s: object): void;
  ifindex(name: string): number;
  openIcmp6(ifname: string, cb: (buf: Buffer, from: string) => void): object;
  sendIcmp6(s: object, buf: Buffer, addr: string): number;
}

let addon: NativeAddon | undefined;

/** The interface-socket addon (src/native/iface_udp.c), built by `npm install` through node-gyp. */
export function nativeAddon(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  try {
    addon = require('../../build/Release/bootgate_net.node') as NativeAddon;
  } catch (e) {
    throw new BootgateError('NATIVE_ADDON_MISSING', `interface socket addon not built (run npm install): ${(e as Error).message}`);
  }
  return addon;
}

/** UDP sockets bound to one device (SO_BINDTODEVICE) that report the ingress interface (IP_PKTINFO). */
export const interfaceSocketFactory: SocketFactory = (spec, onMessage) => {
  const native = nativeAddon();
  let sock: NativeSocket;
  try {
    sock = native.open(
      spec.ifname,
      spec.port,
      (buf, address, port, ifindex, localAddress, linkSource) =>
        onMessage(buf, linkSource ? { address, port, ifindex, localAddress, linkSource } : { address, port, ifindex, localAddress }),
      spec.linkSource === 'refuse-mismatch' ? 2 : spec.linkSource === 'report' ? 1 : 0,
    );
  } catch (e) {
    throw new BootgateError('SOCKET_BIND', `cannot open UDP port ${spec.port} on ${spec.ifname || 'all interfaces'}: ${(e as Error).message}`);
  }
  let closed = false;
  const s: DatagramSocket = {
    port: sock.port,
    linkSource: sock.linkSource === true,
    ...(sock.linkSource && spec.linkSource === 'refuse-mismatch'
      ? { linkStats: () => (closed ? { refused: 0, sources: [] } : native.linkStats(sock)) }
      : {}),
    send: (buf, address, port) => !closed && native.send(sock, buf, address, port) === 0,
    setArp: (ip, mac) => !closed && native.setArp(sock, ip, mac) === 0,
    close: () => {
      if (closed) return;
      closed = true;
      native.close(sock);
    },
  };
  return s;
};
