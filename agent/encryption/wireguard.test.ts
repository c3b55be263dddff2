import { CommandError, type NetnsCommands } from '../network/ipcmd.js';
import { WireguardDevice } from './wireguard.js';

/** A namespace whose `ip` answers the device listing with `answer` (text, or an error to throw). */
const nsAnswering = (answer: string | Error) =>
  ({
    ip: async (args: string[]) => {
      if (args.includes('show')) {
        if (answer instanceof Error) throw answer;
        return answer;
      }
      return '';
    },
  }) as unknown as NetnsCommands;

describe("the WireGuard device's counters", () => {
  it('reads sent as encrypted and received as decrypted', async () => {
    const json = JSON.stringify([{ stats64: { rx: { packets: 7, errors: 1 }, tx: { packets: 9, errors: 0 } } }]);
    expect(await new WireguardDevice(nsAnswering(json)).counters()).toEqual({ encrypted: 9, decrypted: 7, errors: 1 });
  });

  it('has none while the device does not exist, and throws when the read fails otherwise (never zero)', async () => {
    expect(await new WireguardDevice(nsAnswering(new CommandError('ip -s -j link show dev weir_wg', 'Device "weir_wg" does not exist.'))).counters()).toBeUndefined();
    await expect(new WireguardDevice(nsAnswering(new CommandError('ip -s -j link show dev weir_wg', 'Cannot open netlink socket: Operation not permitted'))).counters()).rejects.toThrow(/netlink/);
  });
});
