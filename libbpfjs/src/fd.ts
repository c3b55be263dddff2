import { native } from './native.js';

// Owners forgotten without close() still release their kernel objects when collected.
const registry = new FinalizationRegistry<number>((fd) => {
  try {
    native.close(fd);
  } catch {
    // The fd may already be gone with the process's teardown; nothing left to free.
  }
});

/** Owns one file descriptor for a BPF map, program or link. */
export abstract class FdOwner {
  #fd: number;

  protected constructor(fd: number) {
    this.#fd = fd;
    registry.register(this, fd, this);
  }

  /** The owned descriptor; throws once closed so a reused fd number is never touched. */
  get fd(): number {
    if (this.#fd < 0) throw new Error(`${this.constructor.name} is closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Releases this descriptor. Pinned or attached-by-link objects stay alive in the kernel. */
  close(): void {
    if (this.#fd < 0) return;
    registry.unregister(this);
    const fd = this.#fd;
    this.#fd = -1;
    native.close(fd);
  }
}
