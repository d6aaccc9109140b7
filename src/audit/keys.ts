import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PRIVATE_KEY_FILE = 'audit-ed25519.key.pem';
export const PUBLIC_KEY_FILE = 'audit-ed25519.pub.pem';

/** The appliance's Ed25519 signing key (export manifests and retention checkpoints). */
export class AuditSigner {
  constructor(
    private readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
  ) {}

  /** Loads `<keysDir>/audit-ed25519.key.pem`, creating the pair on first start (private key mode 0600). */
  static loadOrCreate(keysDir: string): AuditSigner {
    mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    const priv = join(keysDir, PRIVATE_KEY_FILE);
    const pub = join(keysDir, PUBLIC_KEY_FILE);
    if (!existsSync(priv)) {
      const pair = generateKeyPairSync('ed25519');
      // 'wx': never overwrite a key that appeared meanwhile; mode applies on creation.
      writeFileSync(priv, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
      chmodSync(priv, 0o600);
    }
    const privateKey = createPrivateKey(readFileSync(priv));
    const publicKey = createPublicKey(privateKey);
    const pubPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    if (!existsSync(pub) || readFileSync(pub, 'utf8') !== pubPem) writeFileSync(pub, pubPem, { mode: 0o644 });
    return new AuditSigner(privateKey, publicKey);
  }

  static generate(): AuditSigner {
    const pair = generateKeyPairSync('ed25519');
    return new AuditSigner(pair.privateKey, pair.publicKey);
  }

  publicKeyPem(): string {
    return this.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }

  fingerprint(): string {
    return keyFingerprint(this.publicKey);
  }

  /** Ed25519 signature (base64) over the UTF-8 bytes of `message`. */
  sign(message: string): string {
    return sign(null, Buffer.from(message, 'utf8'), this.privateKey).toString('base64');
  }
}

export function keyFingerprint(publicKey: KeyObject): string {
  return `sha256:${createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('hex')}`;
}

export function verifySignature(publicKey: KeyObject, message: string, signatureB64: string): boolean {
  try {
    return verify(null, Buffer.from(message, 'utf8'), publicKey, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}
