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
];
