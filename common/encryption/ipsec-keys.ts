// The IPsec key Secret, in Cilium's format (data `keys`, one line "<id> <aead> <key> <icv bits>"),
// and what both components make of it: the operator reads ids and fingerprints to roll key
// generations out, the agent derives one key per node pair and direction from the master key.
import { createHash, hkdfSync } from 'node:crypto';

/** The one AEAD Weir programs: AES-GCM as ESP uses it (RFC 4106). */
export const IPSEC_AEAD = 'rfc4106(gcm(aes))';
/** AES-128/192/256 key and the 4-byte salt RFC 4106 appends. */
const KEY_BYTES = [20, 28, 36];
const ICV_BITS = [64, 96, 128];

export interface IpsecKey {
  /** The key generation, 1-15: it rides in the packet mark, so a rotation is one datapath write. */
  id: number;
  key: Buffer;
  icvBits: number;
}

export class IpsecKeyError extends Error {
  override readonly name = 'IpsecKeyError';
}

/** Hex (Cilium's form, optionally 0x-prefixed) or base64 (what a Helm template can make). */
function decodeKey(text: string): Buffer | undefined {
  const hex = text.replace(/^0x/i, '');
  if (/^[0-9a-f]+$/i.test(hex) && KEY_BYTES.includes(hex.length / 2)) return Buffer.from(hex, 'hex');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (KEY_BYTES.includes(b.length)) return b;
  }
  return undefined;
}

/** Every key in the Secret's `keys` (base64 data as the API returns it); throws on anything malformed. */
export function parseIpsecSecret(data: Record<string, string> | undefined): IpsecKey[] {
  const raw = data?.keys;
  if (raw === undefined) throw new IpsecKeyError('no data.keys');
  const lines = Buffer.from(raw, 'base64').toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) throw new IpsecKeyError('data.keys holds no key');
  const keys = lines.map((line, i) => {
    const where = `data.keys line ${i + 1}`;
    const [idText = '', aead = '', keyText = '', icvText = '', ...rest] = line.split(/\s+/);
    // Cilium marks per-node-pair keys with "+"; Weir always derives them.
    const id = Number(idText.replace(/\+$/, ''));
    if (rest.length > 0 || icvText === '') throw new IpsecKeyError(`${where}: want "<id> ${IPSEC_AEAD} <key> <icv bits>"`);
    if (!Number.isInteger(id) || id < 1 || id > 15) throw new IpsecKeyError(`${where}: key id ${idText} is not 1-15`);
    if (aead !== IPSEC_AEAD) throw new IpsecKeyError(`${where}: algorithm ${aead} is not supported (only ${IPSEC_AEAD})`);
    const key = decodeKey(keyText);
    if (!key) throw new IpsecKeyError(`${where}: the key is not ${KEY_BYTES.join(', ')} bytes in hex or base64`);
    const icvBits = Number(icvText);
    if (!ICV_BITS.includes(icvBits)) throw new IpsecKeyError(`${where}: ICV length ${icvText} is not ${ICV_BITS.join(', ')}`);
    return { id, key, icvBits };
  });
  const ids = keys.map((k) => k.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new IpsecKeyError(`data.keys names key id ${dup} twice`);
  return keys;
}

/**
 * The Secret's newest key: with one line, that one; with several (the previous key kept while a
 * rotation runs), the last line.
 */
export const newestKey = (keys: readonly IpsecKey[]): IpsecKey => keys[keys.length - 1];

/** A digest that tells keys apart without revealing them (NodeDatapath is not a Secret). */
export function keyFingerprint(k: IpsecKey): string {
  return createHash('sha256').update('weir-ipsec-fingerprint').update(k.key).update(String(k.icvBits)).digest('hex').slice(0, 32);
}

export interface PairEnd {
  name: string;
  bootID?: string;
}

/**
 * The key for ESP from `src` to `dst`: HKDF over the master key, bound to both nodes and their
 * boot ids. Each direction of each pair has its own key, and a rebooted node (whose states, and
 * so ESP sequence numbers, start over) gets fresh keys, so an AES-GCM nonce never repeats.
 */
export function pairKey(master: IpsecKey, src: PairEnd, dst: PairEnd): Buffer {
  const info = ['weir-ipsec-v1', master.id, src.name, src.bootID ?? '', dst.name, dst.bootID ?? ''].join('\0');
  return Buffer.from(hkdfSync('sha256', master.key, Buffer.alloc(0), info, master.key.length));
}

/**
 * The SPI of what `senderNodeId` sends under key `id`. A receiver finds its state by (its
 * address, SPI), so every sender needs its own; SPIs below 256 are reserved (RFC 4303).
 */
const SPI_BASE = 0x1000;

export function spiOf(senderNodeId: number, id: number): number {
  if (!Number.isInteger(senderNodeId) || senderNodeId < 1 || senderNodeId > 0xffffff) throw new RangeError(`node id ${senderNodeId} is not 1-16777215`);
  if (!Number.isInteger(id) || id < 1 || id > 15) throw new RangeError(`key id ${id} is not 1-15`);
  return SPI_BASE + senderNodeId * 16 + id;
}
