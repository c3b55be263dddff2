import { KubeProxyWatch } from './kubeproxy.js';

describe('KubeProxyWatch', () => {
  it('keeps what the last look found when a look fails, says why, and looks again next time', async () => {
    const answers: Array<string[] | Error> = [['iptables nat KUBE-SERVICES'], new Error('iptables -w: the xtables lock is held'), []];
    const watch = new KubeProxyWatch(async () => {
      const a = answers.shift()!;
      if (a instanceof Error) throw a;
      return a;
    }, 0);
    expect(await watch.current()).toEqual({ found: ['iptables nat KUBE-SERVICES'] });
    expect(await watch.current()).toEqual({ found: ['iptables nat KUBE-SERVICES'], problem: "could not look for kube-proxy's rules (iptables -w: the xtables lock is held); going by the last look" });
    expect(await watch.current()).toEqual({ found: [] });
  });
});
