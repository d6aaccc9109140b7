/** The detail of a retention checkpoint record (JSON in its `detail` field). */
export interface CheckpointDetail {
  /** first and last seq removed */
  fromSeq: number;
  throughSeq: number;
  /** hash of record throughSeq: the oldest remaining record's prevHash */
  anchorHash: string;
  count: number;
  /** records with time before this (ISO-8601) were removed */
  cutoff: string;
  keyFingerprint: string;
  /** Ed25519 (base64) over checkpointMessage() */
  signature: string;
}

export function checkpointMessage(d: Omit<CheckpointDetail, 'signature'>): string {
  return `bootgate-audit-checkpoint/1\n${d.fromSeq}\n${d.throughSeq}\n${d.anchorHash}\n${d.count}\n${d.cutoff}\n${d.keyFingerprint}`;
}
