import type { TileView } from './wire.ts';

/** A tile with nothing known yet but its MAC (the server's room builder and the browser's events start from it). */
export const emptyTile = (mac: string, overlay: TileView['overlay'] = null): TileView => ({
  mac,
  seat: null,
  group: null,
  ip: null,
  leaseExpiresAt: null,
  firmware: null,
  boot: null,
  session: null,
  overlay,
});
