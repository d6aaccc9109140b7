/**
 * Platform instances for tests, run inside a namespace: one HTTP server per instance (each answers every request
 * with `<name> <path-and-query>`) and a heartbeat loop per instance to the gateway, as a platform's agent would.
 * Controlled by JSON lines on stdin: {"name":"B","sessions":3} · {"name":"B","heartbeat":false} · {"name":"B","state":"drain"}.
 * Prints "ready" once every server listens; each heartbeat's HTTP status goes to stdout as "hb <name> <status>".
 *
 *   node --import tsx test/helpers/platform-agent.ts --gateway http://10.76.0.1:18477 --interval 200 \
 *     --instance NAME=ADDRESS:PORT=ID=TOKEN=SESSIONS [--instance …]
 */
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { gateway: { type: 'string' }, interval: { type: 'string', default: '200' }, instance: { type: 'string', multiple: true } },
});
interface Agent {
  name: string;
  id: string;
  token: string;
  sessions: number;
  heartbeat: boolean;
  state: 'ready' | 'drain';
}
const agents = new Map<string, Agent>();
const listening: Promise<void>[] = [];
for (const spec of values.instance ?? []) {
  const [name, hostPort, id, token, sessions] = spec.split('=');
  const [host, port] = hostPort!.split(':');
  agents.set(name!, { name: name!, id: id!, token: token!, sessions: Number(sessions), heartbeat: true, state: 'ready' });
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${name} ${req.url}\n`);
  });
  listening.push(new Promise((resolve) => server.listen(Number(port), host, resolve)));
}

async function beat(a: Agent): Promise<void> {
  try {
    const res = await fetch(`${values.gateway}/api/v1/platforms/${a.id}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ activeSessions: a.sessions, cpu: 0.1, memory: 0.2, state: a.state }),
    });
    process.stdout.write(`hb ${a.name} ${res.status}\n`);
  } catch (e) {
    process.stdout.write(`hb ${a.name} error ${(e as Error).message}\n`);
  }
}

setInterval(() => {
  for (const a of agents.values()) if (a.heartbeat) void beat(a);
}, Number(values.interval));

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as { name: string; sessions?: number; heartbeat?: boolean; state?: 'ready' | 'drain' };
  const a = agents.get(cmd.name);
  if (!a) return;
  if (cmd.sessions !== undefined) a.sessions = cmd.sessions;
  if (cmd.heartbeat !== undefined) a.heartbeat = cmd.heartbeat;
  if (cmd.state !== undefined) a.state = cmd.state;
  process.stdout.write(`ok ${line}\n`);
});

await Promise.all(listening);
process.stdout.write('ready\n');
