/** What a refused or failed client of the HTTP proxy gets: its pages, and the reset that cuts a response short. */
import type { Socket } from 'node:net';
import { REFUSAL_EXPLANATION, type RefusalReason } from '../destination/policy.ts';
import { refusalPage } from './headers.ts';

/** A page the proxy answers with itself; `headers` are added to its head (Location, Retry-After). */
export type Page = { status: number; body: string; headers?: Readonly<Record<string, string>> };

export const NO_SESSION = refusalPage(403, 'No open session', 'This seat has no open session. Please see the cashier.');
export const BAD_TARGET = refusalPage(400, 'Bad request', 'The request does not name a host this proxy can reach.');
/** RFC 9110 §15.5.20: this address answers only for the edge cache's names (cache mode) */
export const MISDIRECTED = refusalPage(421, 'Misdirected request', 'This address serves only the edge cache’s domains.');
export const BAD_REQUEST = refusalPage(400, 'Bad request', 'The request is not valid HTTP/1.1.');
export const HOST_MISMATCH = refusalPage(
  403,
  'Destination refused',
  'The Host field names another site than the address this connection was made to.',
);
export const NOT_REDIRECTED = refusalPage(403, 'Destination refused', 'This connection did not come through the gateway’s redirect.');

/** The 403 page for a destination the policy refuses. */
export function destinationRefusalPage(reason: RefusalReason): Page {
  return refusalPage(403, 'Destination refused', `This gateway does not connect seats to ${REFUSAL_EXPLANATION[reason]}.`);
}

/** A page's own header fields, each line ending in CRLF (values are the proxy's own, never the client's). */
export function pageHeaders(page: Page): string {
  let out = '';
  for (const [name, value] of Object.entries(page.headers ?? {})) out += `${name}: ${value}\r\n`;
  return out;
}

/** Closes a client connection with a TCP reset (RST), so that nothing it received can pass for a complete response. */
export function reset(sock: Socket): void {
  if (!sock.destroyed) sock.resetAndDestroy();
}
