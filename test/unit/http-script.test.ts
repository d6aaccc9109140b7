import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderIpxeScript, ScriptError, type BootProfile, type ScriptContext } from '../../src/http/ipxe-script.ts';
import { parseMac } from '../../src/terminal/mac.ts';

const CTX: ScriptContext = { mac: parseMac('52:54:00:AB:CD:01'), baseUrl: 'http://10.72.0.1:8080', iscsiHost: '10.72.0.1', iscsiPort: 3260 };

function lines(s: string): string[] {
  return s.split('\n');
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ScriptError, `expected ScriptError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected a ScriptError');
}

describe('iPXE script rendering (PROTOCOLS.md §4 H3/H4)', () => {
  it('kernel profile → kernel, initrd, imgargs with initrd=<name> (EFI stub), boot; URLs on this server', () => {
    const s = renderIpxeScript('thin', { kernel: 'linux/vmlinuz', initrd: ['linux/initrd.gz', 'extra.cpio'], cmdline: 'console=ttyS0 quiet' }, CTX);
    assert.ok(s.startsWith('#!ipxe\n'));
    assert.ok(s.endsWith('\n'));
    const l = lines(s);
    assert.equal(l[0], '#!ipxe');
    assert.ok(l.includes('kernel http://10.72.0.1:8080/linux/vmlinuz'));
    assert.ok(l.includes('initrd http://10.72.0.1:8080/linux/initrd.gz'));
    assert.ok(l.includes('initrd http://10.72.0.1:8080/extra.cpio'));
    assert.ok(l.includes('imgargs vmlinuz initrd=initrd.gz initrd=extra.cpio console=ttyS0 quiet'));
    assert.equal(l.indexOf('boot'), l.length - 2, 'boot is the last command');
    assert.ok(l.findIndex((x) => x.startsWith('initrd ')) > l.findIndex((x) => x.startsWith('kernel ')));
  });

  it('kernel profile without initrd or cmdline → imgargs with the name only', () => {
    const l = lines(renderIpxeScript('k', { kernel: 'vmlinuz' }, CTX));
    assert.ok(l.includes('imgargs vmlinuz'));
    assert.equal(l.filter((x) => x.startsWith('initrd ')).length, 0);
  });

  it('${bootgate} in the cmdline becomes the server base URL; iPXE settings stay for iPXE to expand', () => {
    const s = renderIpxeScript(
      'k',
      { kernel: 'vmlinuz', cmdline: 'bootgate=${bootgate}/booted?mac=${bootgate-mac} ip=${net0/ip} h=${mac:hexhyp}' },
      CTX,
    );
    assert.ok(s.includes('bootgate=http://10.72.0.1:8080/booted?mac=52-54-00-ab-cd-01 ip=${net0/ip} h=${mac:hexhyp}'), s);
  });

  it('file paths are percent-encoded per segment (a space cannot split the token)', () => {
    const s = renderIpxeScript('k', { kernel: 'my kernel/vmlinuz', initrd: ['a dir/initrd.gz'] }, CTX);
    assert.ok(s.includes('kernel http://10.72.0.1:8080/my%20kernel/vmlinuz\n'), s);
    assert.ok(s.includes('initrd http://10.72.0.1:8080/a%20dir/initrd.gz\n'), s);
    // the image name iPXE uses (the last segment) must be one token for imgargs/initrd=
    assert.equal(
      code(() => renderIpxeScript('k', { kernel: 'vm linuz' }, CTX)),
      'SCRIPT_WHITESPACE',
    );
  });

  it('sanboot → per-terminal target IQN on this host, default port omitted; initiator IQN set', () => {
    const l = lines(renderIpxeScript('disk', { sanboot: 'win10' }, CTX));
    assert.ok(l.includes('sanboot iscsi:10.72.0.1::::iqn.2026-11.io.bootgate:disk.win10.52-54-00-ab-cd-01'), l.join('\n'));
    assert.ok(l.includes('set initiator-iqn iqn.2026-11.io.bootgate:terminal.52-54-00-ab-cd-01'));
  });

  it('sanboot on another port → iscsi:<server>::<port>::<iqn>', () => {
    const s = renderIpxeScript('disk', { sanboot: 'img' }, { ...CTX, iscsiPort: 13260 });
    assert.ok(s.includes('sanboot iscsi:10.72.0.1::13260::iqn.2026-11.io.bootgate:disk.img.52-54-00-ab-cd-01\n'));
  });

  it('sanboot with a UUID-only request leaves the MAC to iPXE (${net0/mac:hexhyp})', () => {
    const s = renderIpxeScript('disk', { sanboot: 'img' }, { ...CTX, mac: undefined, uuid: '8a2b7f3e-0000-4000-8000-000000000001' });
    assert.ok(s.includes('sanboot iscsi:10.72.0.1::::iqn.2026-11.io.bootgate:disk.img.${net0/mac:hexhyp}\n'), s);
  });

  it('sanboot: the image name must be one IQN component (terminal/iqn.ts), dots allowed', () => {
    assert.ok(renderIpxeScript('d', { sanboot: 'debian-12.1' }, CTX).includes('iqn.2026-11.io.bootgate:disk.debian-12.1.52-54-00-ab-cd-01\n'));
    for (const bad of ['Win10', 'a b', 'a\nsanboot x', 'img:evil', '', '-x', 'a_b', 'x.'])
      assert.equal(
        code(() => renderIpxeScript('d', { sanboot: bad }, CTX)),
        'SCRIPT_BAD_IMAGE',
        bad,
      );
  });

  it('chain → chain --autofree; relative URLs are on this server; ${bootgate} expands', () => {
    assert.ok(renderIpxeScript('c', { chain: 'http://example.test/menu.ipxe' }, CTX).includes('chain --autofree http://example.test/menu.ipxe\n'));
    assert.ok(renderIpxeScript('c', { chain: 'menus/a.ipxe' }, CTX).includes('chain --autofree http://10.72.0.1:8080/menus/a.ipxe\n'));
    assert.ok(renderIpxeScript('c', { chain: '${bootgate}/x.ipxe' }, CTX).includes('chain --autofree http://10.72.0.1:8080/x.ipxe\n'));
    assert.ok(
      renderIpxeScript('c', { chain: 'tftp://10.72.0.1/${net0/mac:hexhyp}.ipxe' }, CTX).includes(
        'chain --autofree tftp://10.72.0.1/${net0/mac:hexhyp}.ipxe\n',
      ),
    );
  });

  it('exit → exit (boot the local disk)', () => {
    const s = renderIpxeScript('local', { exit: true }, CTX);
    assert.deepEqual(lines(s).slice(-2), ['exit', '']);
  });

  it('the profile name is reduced to safe characters in the echo line', () => {
    const s = renderIpxeScript('a b\nkernel http://evil/x ${x}', { exit: true }, CTX);
    assert.equal(lines(s).length, 4, 'no extra line from the name');
    assert.ok(!s.includes('${x}'));
    assert.ok(lines(s)[1]!.startsWith('echo bootgate: profile a_b_kernel_http'), s);
  });

  describe('injection attempts are refused with stable codes', () => {
    const cases: Array<[string, BootProfile, string]> = [
      ['newline in cmdline', { kernel: 'vmlinuz', cmdline: 'quiet\nchain http://evil/x' }, 'SCRIPT_CONTROL_CHAR'],
      ['CR in cmdline', { kernel: 'vmlinuz', cmdline: 'quiet\rchain http://evil/x' }, 'SCRIPT_CONTROL_CHAR'],
      ['NUL in cmdline', { kernel: 'vmlinuz', cmdline: 'a\u0000b' }, 'SCRIPT_CONTROL_CHAR'],
      ['|| in cmdline', { kernel: 'vmlinuz', cmdline: 'quiet || shell' }, 'SCRIPT_OPERATOR'],
      ['&& in cmdline', { kernel: 'vmlinuz', cmdline: 'quiet && shell' }, 'SCRIPT_OPERATOR'],
      ['malformed ${ in cmdline', { kernel: 'vmlinuz', cmdline: 'a=${x y}' }, 'SCRIPT_EXPANSION'],
      ['unterminated ${ in cmdline', { kernel: 'vmlinuz', cmdline: 'a=${net0/ip' }, 'SCRIPT_EXPANSION'],
      ['.. in kernel path', { kernel: '../etc/shadow' }, 'SCRIPT_BAD_PATH'],
      ['empty kernel path', { kernel: '' }, 'SCRIPT_BAD_PATH'],
      ['newline in kernel path', { kernel: 'vmlinuz\nshell' }, 'SCRIPT_CONTROL_CHAR'],
      ['newline in initrd path', { kernel: 'vmlinuz', initrd: ['i\nshell'] }, 'SCRIPT_CONTROL_CHAR'],
      ['space in chain URL', { chain: 'http://a/x || shell' }, 'SCRIPT_WHITESPACE'],
      ['newline in chain URL', { chain: 'http://a/x\nshell' }, 'SCRIPT_CONTROL_CHAR'],
      ['odd scheme in chain URL', { chain: 'file:///etc/passwd' }, 'SCRIPT_BAD_URL'],
      ['sanboot image with newline', { sanboot: 'img\nshell' }, 'SCRIPT_BAD_IMAGE'],
      ['nothing', {} as BootProfile, 'SCRIPT_BAD_PROFILE'],
    ];
    for (const [name, profile, expected] of cases) {
      it(`${name} → ${expected}`, () =>
        assert.equal(
          code(() => renderIpxeScript('p', profile, CTX)),
          expected,
        ));
    }
  });

  it('every rendered line is one command: no control characters anywhere (random cmdlines)', () => {
    const alphabet = 'ab =/${}:|&;#\t\n\r\u0000"\'\\%x';
    for (let i = 0; i < 2000; i++) {
      let cmd = '';
      const n = 1 + Math.floor(Math.random() * 20);
      for (let j = 0; j < n; j++) cmd += alphabet[Math.floor(Math.random() * alphabet.length)];
      try {
        const s = renderIpxeScript('p', { kernel: 'vmlinuz', cmdline: cmd }, CTX);
        const l = lines(s);
        assert.equal(l.length, 6, JSON.stringify(cmd)); // #!ipxe, echo, kernel, imgargs, boot, ''
        assert.ok(l[3]!.startsWith('imgargs vmlinuz'));
        assert.ok(!/[\u0000-\u0008\u000b-\u001f]/.test(s));
        for (const t of l[3]!.split(/\s+/)) assert.ok(!['||', '&&', ';'].includes(t));
      } catch (e) {
        assert.ok(e instanceof ScriptError, String(e));
      }
    }
  });
});
