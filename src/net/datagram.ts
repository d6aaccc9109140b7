/** Where a datagram came from and which interface it arrived on (IP_PKTINFO). */
export interface DatagramInfo {
  address: string;
  port: number;
  ifindex: number;
  /** the destination address of the datagram (255.255.255.255 for a broadcast) */
  localAddress: string;
  /**
   * the Ethernet source of the frame that carried it (aa:bb:cc:dd:ee:ff), when the socket was opened with
   * `linkSource` and the frame was seen; absent otherwise
   */
  linkSource?: string;
}

export interface DatagramSocket {
  readonly port: number;
  /** whether datagrams carry their link source (asked for, and the tap could be opened) */
  readonly linkSource?: boolean;
  /** with 'refuse-mismatch': the mismatches refused in the kernel since the last call, and a sample of their sources */
  linkStats?(): { refused: number; sources: string[] };
  /** Sends without blocking; false when the kernel refused it (the caller counts a drop). */
  send(buf: Buffer, address: string, port: number): boolean;
  /** Installs an ARP entry so a reply can be unicast to a client that has no address yet; false if refused. */
  setArp(ip: string, mac: Buffer): boolean;
  close(): void;
}

export interface SocketSpec {
  /** bind to this device only (SO_BINDTODEVICE); empty string: all interfaces */
  ifname: string;
  port: number;
  /**
   * report each datagram's Ethernet source (DHCP snooping: chaddr is whatever the sender wrote);
   * 'refuse-mismatch' also drops, in the kernel, direct DHCP requests whose chaddr is not their frame's source
   */
  linkSource?: 'report' | 'refuse-mismatch';
}

export type SocketFactory = (spec: SocketSpec, onMessage: (buf: Buffer, info: DatagramInfo) => void) => DatagramSocket;
