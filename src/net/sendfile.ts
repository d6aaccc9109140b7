/**
 * sendfile(2) from an open file to a Node TCP socket through the addon (src/native/sendfile.c): page cache to
 * socket, no user-space copy. Used by the HTTP boot server (http/file-server.ts) and the edge cache's hits
 * (gateway/proxy/cache-delivery.ts).
 *
 * The addon writes through a dup of the socket's fd, so Node must have nothing queued on the socket when it starts
 * and must write nothing until it has ended: `sendFileTo` returns undefined (the caller writes from userland
 * instead) when the socket is not a plain TCP socket with an fd, when Node still holds queued bytes, or when the
 * addon is not built.
 */
import type { Socket } from 'node:net';
import { nativeAddon } from './iface-socket.ts';

interface SendfileAddon {
  sendfileStart(socketFd: number, fileFd: number, offset: number, length: number, cb: (errno: number, sent: number) => void): object;
  sendfileAbort(handle: object): void;
}

export interface SendfileResult {
  /** 0: every byte sent; else the errno (EPIPE/ECONNRESET: the peer went away; ECANCELED: the socket closed) */
  errno: number;
  sent: number;
}

/** The socket's fd when it is a plain TCP socket with nothing queued in Node; else undefined. */
export function idleSocketFd(socket: Socket | null | undefined): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: number; writeQueueSize?: number } } | null)?._handle;
  if (!socket || socket.destroyed || typeof handle?.fd !== 'number' || handle.fd < 0) return undefined;
  if (socket.writableLength !== 0 || handle.writeQueueSize !== 0) return undefined;
  return handle.fd;
}

/**
 * Sends [offset, offset+length) of the file `fileFd` on `socket`; resolves when every byte left or the send
 * stopped (the socket closed: ECANCELED; an error). Undefined when sendfile cannot be used here (see the file
 * comment): nothing was sent.
 */
export function sendFileTo(socket: Socket, fileFd: number, offset: number, length: number): Promise<SendfileResult> | undefined {
  const fd = idleSocketFd(socket);
  if (fd === undefined) return undefined;
  let addon: SendfileAddon;
  try {
    addon = nativeAddon() as unknown as SendfileAddon;
  } catch {
    return undefined;
  }
  return new Promise((resolve) => {
    let job: object | undefined;
    const onClose = (): void => {
      if (job) addon.sendfileAbort(job);
    };
    job = addon.sendfileStart(fd, fileFd, offset, length, (errno, sent) => {
      job = undefined;
      socket.off('close', onClose);
      resolve({ errno, sent });
    });
    socket.on('close', onClose);
  });
}
