import { BootgateError } from '../errors.ts';
import { constants as fsc } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { IMAGE_NAME_RULE, isImageName } from '../terminal/iqn.ts';
import { macHyphens, tryParseMac, type Mac } from '../terminal/mac.ts';
import type { OverlaySettings } from './config.ts';
import { readManifest, writeFileAtomic, writeManifest, type ImageManifest, type ImageVersion } from './manifest.ts';
import { OverlayDisk, writeFully } from './overlay-disk.ts';

/**
 * discard: the overlay is emptied when the terminal starts a new session (a reboot restores the image);
 * keep: the overlay survives reboots (pinned to the image version it was created on; reset to move on);
 * super: a maintenance terminal whose overlay becomes the next image version on commit().
 */
export type OverlayMode = OverlaySettings['overlays']['defaultMode'];

export interface OverlayManagerConfig {
  /** `<dataDir>/overlays/` holds everything this module writes */
  dataDir: string;
  /** the `iscsi.images` and `iscsi.overlays` config, as parsed (overlay/config.ts) */
  settings: OverlaySettings;
  logger: Logger;
}

/** An overlay's size when the last iSCSI session on it ended: what that session (or boot) wrote back. */
export interface OverlaySessionEnd {
  image: string;
  mac: Mac;
  mode: OverlayMode;
  bytes: number;
}

interface TerminalMeta {
  image: string;
  mac: string;
  baseVersion: number;
  mode: OverlayMode;
  createdAt: string;
}

interface OpenDisk {
  disk: OverlayDisk;
  refs: number;
  meta: TerminalMeta;
}

/** A terminal's overlay of one image, as OverlayManager.terminals lists it. */
export interface OverlayTerminal {
  mac: Mac;
  /** the mode its next open uses (set by API or config, else the default) */
  mode: OverlayMode;
  /** the mode, version and time the overlay on file was made with; null when it has none */
  overlayMode: OverlayMode | null;
  baseVersion: number | null;
  createdAt: string | null;
  bytes: number;
  /** a session holds the disk now (reset refused: IN_USE) */
  inUse: boolean;
}

/** The overlay codes of the catalogue in src/errors.ts. */
export type OverlayCode = 'IMAGE_UNKNOWN' | 'VERSION_UNKNOWN' | 'SUPER_BUSY' | 'NOT_SUPER' | 'IN_USE' | 'BAD_MAC';

export class OverlayError extends BootgateError<OverlayCode> {
  override name = 'OverlayError';
}

/**
 * Images, their versions and the terminals' overlays. All state is in files under `<dataDir>/overlays/`:
 *   images/<image>/manifest.json      versions (atomic rewrite), images/<image>/v<N>.img for N ≥ 2
 *   terminals/<image>/<mac>/{data,map,meta.json}
 */
export class OverlayManager {
  private readonly root: string;
  private readonly manifests = new Map<string, ImageManifest>();
  private readonly open = new Map<string, OpenDisk>();
  private readonly opening = new Map<string, Promise<OpenDisk>>();
  private readonly modes = new Map<string, OverlayMode>();
  /** terminals that booted since their disk was last opened (discard mode resets on the next open) */
  private readonly booted = new Set<string>();
  /** detached disks (a rebooted terminal's stale session) still open, per image/terminal key */
  private readonly stale = new Map<string, number>();
  private readonly log: Logger;
  /** a per-terminal overlay bound (its seat class's), over iscsi.overlays.limitBytes */
  private limitFor: (mac: Mac) => number | undefined = () => undefined;
  private sessionEndListeners: Array<(e: OverlaySessionEnd) => void> = [];
  /** overlayBytes of disks not open, by image/terminal, valid while their map file is unchanged */
  private readonly closedSizes = new Map<string, { mtimeMs: number; size: number; version: number; bytes: number }>();

  constructor(private readonly config: OverlayManagerConfig) {
    this.root = resolve(config.dataDir, 'overlays');
    this.log = config.logger.child({ module: 'overlay' });
    for (const [mac, mode] of Object.entries(config.settings.overlays.terminals)) {
      const m = tryParseMac(mac);
      if (m) this.modes.set(macHyphens(m), mode);
    }
  }

  async start(): Promise<void> {
    for (const [image, path] of Object.entries(this.config.settings.images)) {
      if (!isImageName(image)) throw new OverlayError('IMAGE_UNKNOWN', `bad image name ${image}: ${IMAGE_NAME_RULE}`);
      const file = this.manifestPath(image);
      let m = await readManifest(file);
      if (!m) {
        m = { image, current: 1, versions: [{ version: 1, path: resolve(path), createdAt: new Date().toISOString(), note: 'golden image' }] };
        await writeManifest(file, m);
      } else {
        m.versions[0]!.path = resolve(path); // version 1 follows the configured file
      }
      await stat(m.versions.find((v) => v.version === m!.current)!.path);
      this.manifests.set(image, m);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.open.values()].map((o) => o.disk.close()));
    this.open.clear();
  }

  /** The bound of a terminal's overlay from now on (a disk already open keeps the one it opened with). */
  setLimitFor(fn: (mac: Mac) => number | undefined): void {
    this.limitFor = fn;
  }

  /** Called with the overlay's size each time the last session on a disk ends (before it closes). */
  onSessionEnd(listener: (e: OverlaySessionEnd) => void): void {
    this.sessionEndListeners.push(listener);
  }

  hasImage(image: string): boolean {
    return this.manifests.has(image);
  }

  images(): Array<{ image: string; current: number; versions: ImageVersion[] }> {
    return [...this.manifests.values()].map((m) => ({ image: m.image, current: m.current, versions: [...m.versions] }));
  }

  modeOf(mac: Mac): OverlayMode {
    return this.modes.get(macHyphens(mac)) ?? this.config.settings.overlays.defaultMode;
  }

  setMode(mac: Mac, mode: OverlayMode): void {
    const m = macHyphens(mac);
    this.modes.set(m, mode);
  }

  /**
   * Every terminal that has an overlay of `image` on file, or a mode set (config or API): the image version its
   * overlay is pinned to, the mode the overlay was made in and the one its next open uses, its size, and whether a
   * session holds it now. For the images screen (which terminal is on which version).
   */
  async terminals(image: string): Promise<OverlayTerminal[]> {
    this.requireImage(image);
    const dir = join(this.root, 'terminals', image);
    const keys = new Set<string>(this.modes.keys());
    for (const name of await readdir(dir).catch(() => [] as string[])) if (tryParseMac(name)) keys.add(name);
    const out: OverlayTerminal[] = [];
    for (const key of keys) {
      const mac = tryParseMac(key)!;
      const meta = await this.readMeta(this.terminalDir(image, key));
      out.push({
        mac,
        mode: this.modeOf(mac),
        overlayMode: meta?.mode ?? null,
        baseVersion: meta?.baseVersion ?? null,
        createdAt: meta?.createdAt ?? null,
        bytes: meta ? await this.overlayBytes(image, mac) : 0,
        inUse: this.open.has(`${image}/${key}`),
      });
    }
    return out.sort((a, b) => a.mac.localeCompare(b.mac));
  }

  /**
   * The boot path calls this when a terminal (re)boots (its iPXE script is fetched): a discard-mode terminal's
   * next open starts clean even if a stale session still holds the disk.
   */
  markBoot(mac: Mac): void {
    this.booted.add(macHyphens(mac));
  }

  /**
   * Opens (or shares) a terminal's disk. `newSession`: a login that is not a reinstatement; in discard mode
   * it empties the overlay when no other session holds the disk.
   */
  async openTerminal(image: string, mac: Mac, opts: { newSession: boolean }): Promise<{ disk: OverlayDisk; release: () => Promise<void> }> {
    const m = macHyphens(mac);
    const manifest = this.manifests.get(image);
    if (!manifest) throw new OverlayError('IMAGE_UNKNOWN', `unknown image ${image}`);
    const key = `${image}/${m}`;
    const pending = this.opening.get(key);
    if (pending) await pending.catch(() => undefined);
    let entry = this.open.get(key);
    const mode = this.modeOf(mac);
    if (entry && mode === 'discard' && this.booted.has(m)) {
      // The terminal rebooted (markBoot) while its old session still holds the disk (a power-cycled PC never
      // closes its TCP connection, and iPXE always logs in with the same ISID, so the new login even looks
      // like a reinstatement). Detach the old disk: it keeps its handles to the old, now unlinked files until
      // its last session goes, and the new session gets a clean overlay.
      this.open.delete(key);
      this.stale.set(key, (this.stale.get(key) ?? 0) + 1);
      this.log.info({ image, mac: m }, 'terminal rebooted: stale session detached from its overlay');
      entry = undefined;
    }
    if (!entry) {
      const p = this.openDisk(image, m, mode, opts.newSession || this.booted.has(m), this.limitFor(mac));
      this.opening.set(key, p);
      try {
        entry = await p;
      } finally {
        this.opening.delete(key);
      }
      this.booted.delete(m);
      this.open.set(key, entry);
    }
    entry.refs++;
    const e = entry;
    let released = false;
    return {
      disk: e.disk,
      release: async () => {
        if (released) return;
        released = true;
        e.refs--;
        if (e.refs === 0) {
          if (this.open.get(key) === e) this.open.delete(key);
          else this.stale.set(key, (this.stale.get(key) ?? 1) - 1);
          if (this.stale.get(key) === 0) this.stale.delete(key);
          const end: OverlaySessionEnd = { image, mac, mode: e.meta.mode, bytes: e.disk.overlayBytes };
          for (const l of this.sessionEndListeners) {
            try {
              l(end);
            } catch (err) {
              this.log.error({ err, image, mac: m }, 'overlay session-end listener failed');
            }
          }
          await e.disk.close(); // also a detached (stale) disk, once its last session is gone
        }
      },
    };
  }

  /** Image names reach paths: only configured images are accepted (no traversal through a crafted name). */
  private requireImage(image: string): void {
    if (!this.hasImage(image)) throw new OverlayError('IMAGE_UNKNOWN', `no image named ${JSON.stringify(image)}`);
  }

  /** `macKey`: the hyphen form (macHyphens), as the directories on disk are named */
  private terminalDir(image: string, macKey: string): string {
    return join(this.root, 'terminals', image, macKey);
  }
  private manifestPath(image: string): string {
    return join(this.root, 'images', image, 'manifest.json');
  }

  private async openDisk(image: string, mac: string, mode: OverlayMode, fresh: boolean, limitBytes?: number): Promise<OpenDisk> {
    const manifest = this.manifests.get(image)!;
    const dir = this.terminalDir(image, mac);
    await mkdir(dir, { recursive: true });
    if (mode === 'super') {
      for (const o of this.open.values()) {
        if (o.meta.image === image && o.meta.mode === 'super' && o.meta.mac !== mac) {
          throw new OverlayError('SUPER_BUSY', `${o.meta.mac} already maintains ${image}`);
        }
      }
    }
    let meta = await this.readMeta(dir);
    const reset =
      !meta ||
      meta.mode !== mode ||
      (mode === 'discard' && fresh) ||
      // super overlays always sit on the current version; a committed or rolled-back image starts a new one
      (mode === 'super' && meta.baseVersion !== manifest.current) ||
      !manifest.versions.some((v) => v.version === meta!.baseVersion);
    if (reset) {
      const recycled = mode === 'discard' && (await this.recyclable(dir, `${image}/${mac}`));
      meta = { image, mac, baseVersion: manifest.current, mode, createdAt: new Date().toISOString() };
      await this.wipe(dir, recycled);
      await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(meta) + '\n');
      this.log.info({ image, mac, version: meta.baseVersion, mode, recycled }, 'overlay created');
    }
    const version = manifest.versions.find((v) => v.version === meta!.baseVersion)!;
    const disk = await OverlayDisk.open({
      basePath: version.path,
      dataPath: join(dir, 'data'),
      mapPath: join(dir, 'map'),
      limitBytes: limitBytes ?? this.config.settings.overlays.limitBytes,
      id: `${image}/${mac}`,
    });
    return { disk, refs: 0, meta: meta! };
  }

  private async readMeta(dir: string): Promise<TerminalMeta | undefined> {
    try {
      return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as TerminalMeta;
    } catch {
      return undefined;
    }
  }

  /**
   * `keepData`: the empty map alone makes the overlay clean (every granule reads from the image again), so the
   * data file may stay: its blocks are already allocated and the next boot's writes overwrite them at rewrite
   * speed. The map goes first, so a crash in between leaves no map naming old data.
   */
  private async wipe(dir: string, keepData = false): Promise<void> {
    for (const f of ['map', 'meta.json', ...(keepData ? [] : ['data'])]) await rm(join(dir, f), { force: true });
  }

  /**
   * A discard reset may keep the data file when no stale session still writes to it through an old handle and
   * it holds at most `recycleBytes` on disk (a discard terminal's file would otherwise grow towards the union
   * of everything it ever wrote).
   */
  private async recyclable(dir: string, key: string): Promise<boolean> {
    const cap = this.config.settings.overlays.recycleBytes;
    if (cap === 0 || this.stale.has(key)) return false;
    try {
      const st = await stat(join(dir, 'data'));
      return st.blocks * 512 <= cap;
    } catch {
      return false;
    }
  }

  /** Empties a terminal's overlay (refused while a session uses it). */
  async reset(image: string, mac: Mac): Promise<void> {
    this.requireImage(image);
    const m = macHyphens(mac);
    if (this.open.has(`${image}/${m}`)) throw new OverlayError('IN_USE', `${image}/${m} is in use`);
    await this.wipe(this.terminalDir(image, m));
  }

  /** Overlay bytes of a terminal (from the live disk or the map on file). */
  async overlayBytes(image: string, mac: Mac): Promise<number> {
    this.requireImage(image);
    const m = macHyphens(mac);
    const live = this.open.get(`${image}/${m}`);
    if (live) return live.disk.overlayBytes;
    const dir = this.terminalDir(image, m);
    if (!(await this.readMeta(dir))) return 0;
    const manifest = this.manifests.get(image);
    if (!manifest) return 0;
    const meta = (await this.readMeta(dir))!;
    const v = manifest.versions.find((x) => x.version === meta.baseVersion);
    if (!v) return 0;
    // a disk not open does not change: its size is read from the map once per version of the map file (the room's
    // overlay watch asks for every terminal every few seconds)
    const mapPath = join(dir, 'map');
    const st = await stat(mapPath).catch(() => undefined);
    const key = `${image}/${m}`;
    const known = this.closedSizes.get(key);
    if (st && known && known.mtimeMs === st.mtimeMs && known.size === st.size && known.version === v.version) return known.bytes;
    const d = await OverlayDisk.open({ basePath: v.path, dataPath: join(dir, 'data'), mapPath, id: 'probe' });
    try {
      const bytes = d.overlayBytes;
      if (st) this.closedSizes.set(key, { mtimeMs: st.mtimeMs, size: st.size, version: v.version, bytes });
      return bytes;
    } finally {
      await d.close();
    }
  }

  /**
   * Turns the super terminal's overlay into a new image version: copy (reflink when the filesystem can) the
   * base version, apply the overlay, fsync, then switch the manifest. Terminals already running keep the
   * version they opened (their disk holds its file open); the next sessions get the new one.
   */
  async commit(image: string, mac: Mac, note?: string): Promise<ImageVersion> {
    const m = macHyphens(mac);
    const manifest = this.manifests.get(image);
    if (!manifest) throw new OverlayError('IMAGE_UNKNOWN', `unknown image ${image}`);
    const dir = this.terminalDir(image, m);
    const meta = await this.readMeta(dir);
    if (!meta || meta.mode !== 'super') throw new OverlayError('NOT_SUPER', `${m} has no super overlay for ${image}`);
    const live = this.open.get(`${image}/${m}`);
    if (live) await live.disk.flush();
    const base = manifest.versions.find((v) => v.version === meta.baseVersion)!;
    const version = Math.max(...manifest.versions.map((v) => v.version)) + 1;
    const path = join(this.root, 'images', image, `v${version}.img`);
    const tmp = `${path}.tmp`;
    await copyFile(base.path, tmp, fsc.COPYFILE_FICLONE);
    const disk =
      live?.disk ?? (await OverlayDisk.open({ basePath: base.path, dataPath: join(dir, 'data'), mapPath: join(dir, 'map'), id: `${image}/${m}` }));
    const out = await open(tmp, 'r+');
    try {
      const buf = Buffer.allocUnsafe(256 * 4096);
      await disk.forEachAllocatedRun(async (off, len) => {
        const b = buf.subarray(0, len);
        await disk.readOverlay(off, len, b);
        await writeFully(out, b, off);
      });
      await out.sync();
    } finally {
      await out.close();
      if (!live) await disk.close();
    }
    const { rename } = await import('node:fs/promises');
    await rename(tmp, path);
    const v: ImageVersion = { version, path, createdAt: new Date().toISOString(), parent: meta.baseVersion, note };
    const next: ImageManifest = { ...manifest, current: version, versions: [...manifest.versions, v] };
    await writeManifest(this.manifestPath(image), next);
    this.manifests.set(image, next);
    this.log.info({ image, version, parent: meta.baseVersion, by: m }, 'image version committed');
    return v;
  }

  /** Makes an existing version current again (sessions already running keep theirs). */
  async rollback(image: string, version: number): Promise<void> {
    const manifest = this.manifests.get(image);
    if (!manifest) throw new OverlayError('IMAGE_UNKNOWN', `unknown image ${image}`);
    if (!manifest.versions.some((v) => v.version === version)) throw new OverlayError('VERSION_UNKNOWN', `${image} has no version ${version}`);
    const next = { ...manifest, current: version };
    await writeManifest(this.manifestPath(image), next);
    this.manifests.set(image, next);
    this.log.info({ image, version }, 'image rolled back');
  }

  /** Deletes a version file that is neither current nor version 1 nor in use by an open disk's meta. */
  async deleteVersion(image: string, version: number): Promise<void> {
    const manifest = this.manifests.get(image);
    if (!manifest) throw new OverlayError('IMAGE_UNKNOWN', `unknown image ${image}`);
    const v = manifest.versions.find((x) => x.version === version);
    if (!v) throw new OverlayError('VERSION_UNKNOWN', `${image} has no version ${version}`);
    if (
      version === 1 ||
      version === manifest.current ||
      [...this.open.values()].some((o) => o.meta.image === image && o.meta.baseVersion === version)
    ) {
      throw new OverlayError('IN_USE', `${image} v${version} is in use`);
    }
    const next = { ...manifest, versions: manifest.versions.filter((x) => x.version !== version) };
    await writeManifest(this.manifestPath(image), next);
    this.manifests.set(image, next);
    await unlink(v.path).catch(() => undefined);
  }
}
