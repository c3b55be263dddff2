// Four projects so each layer can run alone: unit (pure TS), privileged (root: BPF in the
// kernel, network namespaces; named *.priv.test.ts), cluster (real etcd + kube-apiserver) and vm
// (root: Debian's 6.1 kernel under QEMU, running the other layers' tests inside; *.vm.test.ts).
// A fifth, guest (*.guest.test.ts), exists only inside that VM (vm/guest-init.sh sets
// WEIR_VM_GUEST): privileged tests that need what the host kernel lacks (ESP, WireGuard).
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^libbpfjs$': '<rootDir>/libbpfjs/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.base.json' }],
  },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testEnvironment: 'node',
  // Limits stretch where WEIR_TIME_SCALE says the machine is slower (the VM layer's guest).
  setupFilesAfterEnv: ['<rootDir>/test/harness/time-scale.ts'],
};

const real = { ...common, setupFilesAfterEnv: [...common.setupFilesAfterEnv, '<rootDir>/test/harness/real-limits.ts'] };

export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: [...common.testPathIgnorePatterns, '\\.priv\\.test\\.ts$', '\\.cluster\\.test\\.ts$', '\\.nodes\\.test\\.ts$', '\\.vm\\.test\\.ts$', '\\.guest\\.test\\.ts$'],
    },
    // Tests with real processes, kernels and API servers: a test that names no limit gets one
    // sized for a cold, loaded machine (test/harness/real-limits.ts: jest ignores a project's own
    // testTimeout).
    {
      ...real,
      displayName: 'privileged',
      testMatch: ['<rootDir>/**/*.priv.test.ts'],
    },
    {
      ...real,
      displayName: 'cluster',
      testMatch: ['<rootDir>/**/*.cluster.test.ts'],
    },
    // Real kubelet nodes (root): a control plane, kubelets with containerd, the image, Helm
    // (sandbox/kubelet/); *.nodes.test.ts.
    {
      ...real,
      displayName: 'nodes',
      testMatch: ['<rootDir>/**/*.nodes.test.ts'],
    },
    {
      ...common,
      displayName: 'vm',
      testMatch: ['<rootDir>/**/*.vm.test.ts'],
    },
    ...(process.env.WEIR_VM_GUEST ? [{ ...real, displayName: 'guest', testMatch: ['<rootDir>/**/*.guest.test.ts'] }] : []),
  ],
};
