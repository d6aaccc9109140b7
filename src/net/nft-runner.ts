import { execFile } from 'node:child_process';

/** Runs `nft` with arguments and optional stdin; resolves stdout, rejects with stderr. Injected so tests can fake it. */
export type NftRunner = (args: string[], stdin?: string) => Promise<string>;

export function execNft(binary = 'nft'): NftRunner {
  return (args, stdin) =>
    new Promise((resolve, reject) => {
      const child = execFile(binary, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`nft ${args.join(' ')}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
      // nft may exit without reading stdin (a command given as arguments): the EPIPE that follows is not an
      // error of ours, and unhandled it would crash the process. The exit status above decides.
      child.stdin?.on('error', () => {});
      child.stdin?.end(stdin ?? '');
    });
}
