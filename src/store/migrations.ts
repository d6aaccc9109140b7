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
];
