import { native } from './native.js';

/**
 * IP_TRANSPARENT on a socket: it may accept connections for, and send from, addresses that are
 * not the host's (what bpf_sk_assign hands it). On a listener, its connections inherit it.
 */
export function setTransparent(fd: number): void {
  native.setTransparent(fd);
}

/**
 * A new non-blocking TCP socket bound to `address` (any port) with IP_TRANSPARENT, to connect
 * from an address that is not the host's. The caller owns the fd (wrap it: new net.Socket({ fd })).
 */
export function transparentTcpSocket(address: string): number {
  return native.transparentTcpSocket(address);
}
