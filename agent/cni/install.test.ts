import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chained, install, syncMtu, unchained, uninstall, withMtu } from './install.js';

const bridge = { cniVersion: '1.0.0', name: 'k8s', plugins: [{ type: 'bridge', bridge: 'cni0' }, { type: 'portmap', capabilities: { portMappings: true } }] };

describe('weir-cni install', () => {
  it('chains weir-cni last, once, whatever was there before', () => {
    const once = chained(bridge, '/run/weir/cni.sock');
    expect(once.plugins?.map((p) => p.type)).toEqual(['bridge', 'portmap', 'weir-cni']);
    // Installing again (a restarted agent, another socket) keeps one entry, last.
    const twice = chained({ ...once, plugins: [once.plugins![2], ...once.plugins!.slice(0, 2)] }, '/run/other.sock');
    expect(twice.plugins).toEqual([...bridge.plugins, { type: 'weir-cni', agentSocket: '/run/other.sock' }]);
    expect(() => chained({ plugins: [{ type: 'weir-cni' }] }, '/s')).toThrow('no interface plugin');
  });

  it('installs the binary and the conflist entry, and uninstall leaves the conflist as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-cni-'));
    const bin = join(dir, 'bin');
    const conf = join(dir, 'net.d');
    for (const d of [bin, conf]) mkdirSync(d, { recursive: true });
    const binary = join(dir, 'weir-cni-src');
    writeFileSync(binary, '#!/bin/sh\n');
    writeFileSync(join(conf, '10-k8s.conflist'), JSON.stringify(bridge));
    writeFileSync(join(conf, '20-later.conflist'), JSON.stringify(bridge));
    expect(install({ binary, binDir: bin, confDir: conf, socket: '/run/weir/cni.sock' })).toBe(join(conf, '10-k8s.conflist'));
    expect(existsSync(join(bin, 'weir-cni'))).toBe(true);
    expect((JSON.parse(readFileSync(join(conf, '10-k8s.conflist'), 'utf8')) as typeof bridge).plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'weir-cni']);
    // Only the conflist the runtime uses (the first by name) is touched.
    expect(JSON.parse(readFileSync(join(conf, '20-later.conflist'), 'utf8'))).toEqual(bridge);
    uninstall({ binDir: bin, confDir: conf });
    expect(JSON.parse(readFileSync(join(conf, '10-k8s.conflist'), 'utf8'))).toEqual(bridge);
    expect(existsSync(join(bin, 'weir-cni'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives new pods the overlay MTU through the interface plugin, only where weir-cni is chained', () => {
    expect(withMtu(chained(bridge, '/s'), 1450).plugins).toEqual([{ type: 'bridge', bridge: 'cni0', mtu: 1450 }, bridge.plugins[1], { type: 'weir-cni', agentSocket: '/s', priorMtu: { 0: null } }]);
    const dir = mkdtempSync(join(tmpdir(), 'weir-cni-'));
    writeFileSync(join(dir, '10-k8s.conflist'), JSON.stringify(bridge));
    expect(syncMtu(dir, 1450)).toBeUndefined();
    writeFileSync(join(dir, '10-k8s.conflist'), JSON.stringify(chained(bridge, '/s')));
    expect(syncMtu(dir, 1450)).toBe(join(dir, '10-k8s.conflist'));
    expect(syncMtu(dir, 1450)).toBeUndefined();
    expect((JSON.parse(readFileSync(join(dir, '10-k8s.conflist'), 'utf8')) as typeof bridge).plugins[0]).toEqual({ type: 'bridge', bridge: 'cni0', mtu: 1450 });
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes back the MTU it set when it is taken out: the plugin gets the mtu it had, or none', () => {
    const mode = (c: ReturnType<typeof chained>, mtu: number) => withMtu(c, mtu);
    // The overlay turned on, then off again: the first recorded value is the one restored.
    expect(unchained(mode(mode(chained(bridge, '/s'), 1450), 1500))).toEqual(bridge);
    const own = { ...bridge, plugins: [{ type: 'bridge', bridge: 'cni0', mtu: 9000 }, bridge.plugins[1]] };
    expect(unchained(mode(chained(own, '/s'), 1450))).toEqual(own);
    // Chained again by a restarted init container: what was recorded stays.
    expect(unchained(chained(mode(chained(bridge, '/s'), 1450), '/s'))).toEqual(bridge);
  });
});
