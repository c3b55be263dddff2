import { createRequire } from 'node:module';
import { makeNativeError } from './errors.js';

/** Raw, fd-based surface of the C++ addon (native/*.cc). Use the classes, not this. */
export interface NativeBinding {
  setErrorFactory(fn: typeof makeNativeError): void;

  objectOpen(path: string, opts: { kernelLogSize?: number; pinRoot?: string }): NativeObjectHandle;
  objectMaps(h: NativeObjectHandle): NativeMapSpec[];
  objectPrograms(h: NativeObjectHandle): NativeProgramSpec[];
  objectMapSetMaxEntries(h: NativeObjectHandle, map: string, n: number): void;
  objectMapSetPinPath(h: NativeObjectHandle, map: string, path: string | null): void;
  objectMapReuseFd(h: NativeObjectHandle, map: string, fd: number): void;
  objectMapSetInnerMapFd(h: NativeObjectHandle, map: string, fd: number): void;
  objectMapSetAutocreate(h: NativeObjectHandle, map: string, on: boolean): void;
  objectProgSetAutoload(h: NativeObjectHandle, prog: string, on: boolean): void;
  objectMapFd(h: NativeObjectHandle, map: string): number;
  objectProgFd(h: NativeObjectHandle, prog: string): number;
  objectLoad(h: NativeObjectHandle): Promise<void>;
  objectClose(h: NativeObjectHandle): void;

  mapCreate(
    type: number,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    opts: { name?: string; flags?: number; innerMapFd?: number; mapExtra?: number },
  ): number;
  mapLookup(fd: number, key: Buffer, valueSize: number, flags?: number): Buffer | null;
  mapLookupAndDelete(fd: number, key: Buffer, valueSize: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
  mapFreeze(fd: number): void;
  mapLookupBatch(
    fd: number,
    inBatch: Buffer | null,
    keySize: number,
    valueSize: number,
    count: number,
    andDelete: boolean,
  ): Promise<{ count: number; keys: Buffer; values: Buffer; done: boolean; nextBatch: Buffer }>;
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, elemFlags: number): Promise<{ count: number }>;
  mapDeleteBatch(fd: number, keys: Buffer, count: number): Promise<{ count: number }>;
  mapInfo(fd: number): NativeMapInfo;

  progTestRun(fd: number, opts: NativeTestRunOpts): Promise<NativeTestRunResult>;
  progAttach(progFd: number, targetFd: number, attachType: number, flags?: number, replaceProgFd?: number): void;
  progDetach(progFd: number, targetFd: number, attachType: number): void;
  progQuery(targetFd: number, attachType: number): { attachFlags: number; progIds: number[] };
  progInfo(fd: number): NativeProgInfo;
  progMapIds(fd: number): number[];

  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  fdById(kind: 'map' | 'prog' | 'link', id: number): number;
  nextId(kind: 'map' | 'prog' | 'link', start: number): number | null;
  close(fd: number): void;

  xdpAttach(ifindex: number, progFd: number, flags: number, oldProgFd?: number): void;
  xdpDetach(ifindex: number, flags: number, oldProgFd?: number): void;
  xdpQuery(ifindex: number): { attachMode: number; progId: number; driverProgId: number; genericProgId: number };

  linkCreate(progFd: number, target: number, attachType: number, flags?: number): number;
  linkUpdate(linkFd: number, progFd: number, oldProgFd?: number): void;
  linkDetach(linkFd: number): void;
  linkInfo(fd: number): NativeLinkInfo;

  tcHookCreate(ifindex: number, direction: 'ingress' | 'egress'): boolean;
  tcHookDestroy(ifindex: number): boolean;
  tcAttach(
    ifindex: number,
    direction: 'ingress' | 'egress',
    progFd: number,
    handle: number,
    priority: number,
    replace: boolean,
  ): { handle: number; priority: number; progId: number };
  tcDetach(ifindex: number, direction: 'ingress' | 'egress', handle: number, priority: number): boolean;
  tcQuery(ifindex: number, direction: 'ingress' | 'egress', handle: number, priority: number): number | null;

  withNetns<T>(path: string, fn: () => T): T;
  ifNameToIndex(name: string): number;
  setTransparent(fd: number): void;
  transparentTcpSocket(address: string): number;
  numPossibleCpus(): number;
}

declare const objectHandleBrand: unique symbol;
export type NativeObjectHandle = { readonly [objectHandleBrand]: true };

export interface NativeMapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  internal: boolean;
  pinPath: string | null;
  pinned: boolean;
  fd: number;
}

export interface NativeProgramSpec {
  name: string;
  section: string;
  type: number;
  expectedAttachType: number;
  autoload: boolean;
  fd: number;
}

export interface NativeMapInfo {
  id: number;
  type: number;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  btfId: number;
}

export interface NativeProgInfo {
  id: number;
  type: number;
  name: string;
  tag: string;
  mapIdsCount: number;
  runCount: number;
  runTimeNs: number;
  btfId: number;
}

export interface NativeLinkInfo {
  id: number;
  type: number;
  progId: number;
  ifindex?: number;
  cgroupId?: number;
  attachType?: number;
}

export interface NativeTestRunOpts {
  data?: Buffer;
  dataOutSize?: number;
  ctx?: Buffer;
  ctxOutSize?: number;
  repeat?: number;
  flags?: number;
}

export interface NativeTestRunResult {
  retval: number;
  duration: number;
  dataOut: Buffer | null;
  ctxOut: Buffer | null;
}

const require = createRequire(import.meta.url);
// Resolved from the package root so the same path works from src/ (tests) and dist/ (built).
export const native = require('../build/Release/bpf_binding.node') as NativeBinding;
native.setErrorFactory(makeNativeError);
