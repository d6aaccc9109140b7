import { spawn } from 'node:child_process';

/**
 * Conflict probe (RFC 2131 §2.2): one ICMP echo with iputils `ping`, which holds the raw-socket privilege
 * so the appliance process does not need it. True when the address answered within the timeout.
 */
export function pingProbe(ip: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    const child = spawn('ping', ['-n', '-q', '-c', '1', '-W', String(secs), ip], { stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}
