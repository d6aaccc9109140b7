/** Numbered schema migrations; each runs once, in order, inside a transaction. Never edit a released one. */
export const migrations: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'dhcp leases',
    sql: `
      CREATE TABLE leases (
        ip          INTEGER PRIMARY KEY,          -- IPv4 address as an unsigned 32-bit number
        client_key  TEXT    NOT NULL,             -- 'hw:<mac hex>' or 'id:<option 61 hex>'
        mac         TEXT    NOT NULL,             -- aa:bb:cc:dd:ee:ff
        hostname    TEXT,
        state       TEXT    NOT NULL CHECK (state IN ('bound', 'released', 'expired', 'declined')),
        starts_at   INTEGER NOT NULL,             -- unix ms
        expires_at  INTEGER NOT NULL              -- unix ms; for 'declined' the end of the quarantine
      ) STRICT;
      CREATE INDEX leases_client ON leases (client_key);
    `,
  },
  {
    version: 2,
    name: 'terminals and boot timelines',
    sql: `
      CREATE TABLE terminals (
        mac         TEXT    PRIMARY KEY,          -- aa:bb:cc:dd:ee:ff
        uuid        TEXT,                         -- SMBIOS UUID from option 97, normalised
        firmware    TEXT,                         -- bios | x64-efi | ia32-efi | arm64-efi | unknown
        last_ip     INTEGER,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE boots (
        id          INTEGER PRIMARY KEY,
        mac         TEXT    NOT NULL REFERENCES terminals (mac),
        started_at  INTEGER NOT NULL,             -- unix ms of the first event of this boot
        stage       TEXT    NOT NULL,             -- the latest stage reached
        events      TEXT    NOT NULL              -- JSON [{ stage, at, detail }] in order
      ) STRICT;
      CREATE INDEX boots_mac ON boots (mac, id);
    `,
  },
  {
    version: 3,
    name: 'identity, sessions, api principals, audit trail',
    sql: `
      CREATE TABLE users (
        id            TEXT    PRIMARY KEY,        -- random UUID
        name          TEXT    NOT NULL,           -- display name
        doc_type      TEXT    NOT NULL,           -- identity document type (passport, id-card, ...)
        doc_number    TEXT    NOT NULL,
        doc_country   TEXT,                       -- issuing country (ISO 3166 alpha-2 or free text)
        member        INTEGER NOT NULL DEFAULT 0 CHECK (member IN (0, 1)),
        balance_minor INTEGER NOT NULL DEFAULT 0, -- member account balance, integer minor units
        created_at    INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX users_doc ON users (doc_type, doc_number);
      CREATE TABLE seat_groups (
        name                 TEXT    PRIMARY KEY,
        rate_minor_per_hour  INTEGER NOT NULL CHECK (rate_minor_per_hour >= 0)
      ) STRICT;
      INSERT INTO seat_groups (name, rate_minor_per_hour) VALUES ('default', 0);
      CREATE TABLE seats (
        name        TEXT    PRIMARY KEY,
        mac         TEXT    NOT NULL UNIQUE,      -- aa:bb:cc:dd:ee:ff
        group_name  TEXT    NOT NULL REFERENCES seat_groups (name),
        created_at  INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE sessions (
        id                   TEXT    PRIMARY KEY,
        user_id              TEXT    NOT NULL REFERENCES users (id),
        seat                 TEXT    NOT NULL REFERENCES seats (name),
        opened_at            INTEGER NOT NULL,
        closed_at            INTEGER,
        opened_by            TEXT    NOT NULL,
        closed_by            TEXT,
        rate_minor_per_hour  INTEGER NOT NULL,    -- the seat group's rate when the session opened
        minutes              INTEGER,             -- started minutes, set on close
        charge_minor         INTEGER,             -- set on close
        payment              TEXT    CHECK (payment IN ('member', 'desk'))
      ) STRICT;
      CREATE UNIQUE INDEX sessions_one_open_per_seat ON sessions (seat) WHERE closed_at IS NULL;
      CREATE INDEX sessions_user ON sessions (user_id, opened_at);
      CREATE TABLE api_tokens (
        id          TEXT    PRIMARY KEY,
        name        TEXT    NOT NULL,
        role        TEXT    NOT NULL CHECK (role IN ('admin', 'cashier', 'auditor')),
        token_hash  TEXT    NOT NULL UNIQUE,      -- sha256 hex of the bearer token
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
      ) STRICT;
      CREATE TABLE operators (
        username       TEXT    PRIMARY KEY,
        role           TEXT    NOT NULL CHECK (role IN ('admin', 'cashier', 'auditor')),
        password_hash  TEXT    NOT NULL,          -- scrypt$N$r$p$salt$hash (base64)
        created_at     INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE audit (
        seq          INTEGER PRIMARY KEY,         -- position in the hash chain
        time         INTEGER NOT NULL,            -- unix ms, never decreasing along seq
        kind         TEXT    NOT NULL,            -- http | tunnel | tls | flow | admin | checkpoint
        seat         TEXT, ip TEXT, mac TEXT,
        user_id      TEXT, user_name TEXT, doc_type TEXT, doc_number TEXT, doc_country TEXT,
        session_id   TEXT,
        method       TEXT, host TEXT, port INTEGER, url TEXT, sni TEXT, status INTEGER,
        bytes_up     INTEGER, bytes_down INTEGER, duration_ms INTEGER, verdict TEXT,
        actor        TEXT, action TEXT, target TEXT, detail TEXT,
        prev_hash    TEXT    NOT NULL,            -- hash of record seq-1 (or of the purged anchor)
        hash         TEXT    NOT NULL             -- sha256 over prev_hash and the canonical record
      ) STRICT;
      CREATE INDEX audit_time ON audit (time);
      CREATE INDEX audit_user ON audit (user_id, time);
      CREATE INDEX audit_seat ON audit (seat, time);
      CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
    `,
  },
  {
    version: 4,
    name: 'open connections awaiting their audit record',
    sql: `
      -- A tunnel's record (CONNECT, TLS splice, upgraded connection) is written when it closes; while it is open,
      -- this row stands for it, so a crash leaves an "interrupted" record instead of nothing (src/audit/log.ts).
      CREATE TABLE audit_open (
        id         INTEGER PRIMARY KEY,         -- assigned by the audit log, increasing
        opened_at  INTEGER NOT NULL,            -- unix ms
        input      TEXT    NOT NULL             -- JSON: the record's fields as known when it opened
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: 'service platform instances',
    sql: `
      CREATE TABLE platform_instances (
        id              TEXT    PRIMARY KEY,        -- random UUID
        class           TEXT    NOT NULL,           -- game, video, web, billing, monitoring, ...
        name            TEXT    NOT NULL,
        url             TEXT    NOT NULL,           -- base URL (http or https)
        capacity        INTEGER NOT NULL CHECK (capacity >= 1),
        weight          REAL    NOT NULL CHECK (weight > 0),
        token_hash      TEXT,                       -- hex SHA-256 of the heartbeat bearer token (never the token)
        drained         INTEGER NOT NULL DEFAULT 0 CHECK (drained IN (0, 1)),  -- drained by the operator
        source          TEXT    NOT NULL CHECK (source IN ('config', 'api')),
        created_at      INTEGER NOT NULL,           -- unix ms
        hb_at           INTEGER,                    -- unix ms of the last accepted heartbeat
        hb_sessions     INTEGER,                    -- its activeSessions
        hb_cpu          REAL,
        hb_memory       REAL,
        hb_bandwidth    REAL,                       -- bandwidthBps, if reported
        hb_state        TEXT    CHECK (hb_state IN ('ready', 'drain')),
        decisions       INTEGER NOT NULL DEFAULT 0, -- requests sent to this instance, ever
        UNIQUE (class, name)
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: 'staff browser sessions',
    sql: `
      -- A staff member's web UI session (src/ui/sessions.ts). The cookie holds a random token; only its hash is
      -- stored, so a copy of the database opens no session. Removing the operator ends its sessions.
      CREATE TABLE ui_sessions (
        token_hash    TEXT    PRIMARY KEY,        -- hex SHA-256 of the cookie token (never the token)
        username      TEXT    NOT NULL REFERENCES operators (username) ON DELETE CASCADE,
        csrf          TEXT    NOT NULL,           -- the per-session token required in X-CSRF-Token
        source        TEXT    NOT NULL,           -- the address the login came from
        created_at    INTEGER NOT NULL,           -- unix ms
        last_seen_at  INTEGER NOT NULL,           -- unix ms, advanced at most once a minute
        expires_at    INTEGER NOT NULL            -- unix ms: min(created + lifetime, last seen + idle)
      ) STRICT;
      CREATE INDEX ui_sessions_user ON ui_sessions (username);
      CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
    `,
  },
  {
    version: 7,
    name: 'paused cashier sessions, seat classes, overlay sizes',
    sql: `
      -- A paused session (src/identity/service.ts pauseSession): the seat's gate is shut and its time is not
      -- charged, but the session (and the seat's platform instance) is kept. paused_at is the start of the
      -- pause under way (NULL while running); paused_ms the total of the pauses already ended.
      ALTER TABLE sessions ADD COLUMN paused_at INTEGER;
      ALTER TABLE sessions ADD COLUMN paused_ms INTEGER NOT NULL DEFAULT 0 CHECK (paused_ms >= 0);
      -- A seat group is the seat's class (standard, vip, streaming …): besides its rate, the boot profile its
      -- seats get (NULL: boot.defaultProfile or a reservation's) and their overlay bound (NULL: iscsi.overlays.limitBytes).
      ALTER TABLE seat_groups ADD COLUMN profile TEXT;
      ALTER TABLE seat_groups ADD COLUMN overlay_limit_bytes INTEGER CHECK (overlay_limit_bytes IS NULL OR overlay_limit_bytes >= 1048576);
      -- The write-back an overlay held when its last iSCSI session ended: the measured growth per session of each
      -- image, from which the seat-class screen recommends an overlay size (p95).
      CREATE TABLE overlay_sizes (
        id           INTEGER PRIMARY KEY,
        image        TEXT    NOT NULL,
        mac          TEXT    NOT NULL,
        mode         TEXT    NOT NULL,
        bytes        INTEGER NOT NULL CHECK (bytes >= 0),
        recorded_at  INTEGER NOT NULL             -- unix ms
      ) STRICT;
      CREATE INDEX overlay_sizes_image ON overlay_sizes (image, recorded_at);
    `,
  },
];
